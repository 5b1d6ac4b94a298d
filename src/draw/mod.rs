//! Pictures of a spec and of a run: the layer diagram (SVG or Graphviz DOT), the IR graph
//! (DOT), and plots of traces (SVG, PNG). Pure: each returns bytes or text for the CLI to
//! write.

pub mod dot;
pub mod network;
pub mod plot;
