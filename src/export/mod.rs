//! Taking a trained model to other runtimes: the inference graph as ONNX (`onnx`), written
//! with the protobuf messages in `proto`.

pub mod onnx;
pub mod proto;
