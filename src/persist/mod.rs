//! What a run keeps: trained weights (`weights`) and checkpoints (`checkpoint`), both in
//! the safetensors container (`tensors`), with metadata that binds them to their spec.
//! Like the rest of the library this module works on bytes and readers; the command line
//! opens and writes the files.

pub mod checkpoint;
pub mod tensors;
pub mod weights;
