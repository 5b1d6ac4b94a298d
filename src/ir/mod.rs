//! The IR: typed SSA graphs of whole ops (`Graph`, `Op`, `Shape`, `DType`), their printer
//! and their verifier. Knows nothing of syntax or ndarray.

pub mod graph;
pub mod op;
pub mod print;
pub mod shape;
pub mod verify;

pub use graph::{Def, Graph, GraphError, Init, Inst, Origin, Pass, Role, ValueId, ValueInfo, Values};
pub use op::{Activation, Loss, Op};
pub use shape::{DType, Dim, Shape};
