//! Code the training examples share.
#![allow(dead_code)]

pub mod data;
