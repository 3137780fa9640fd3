//! The data module's error type: every message names the file, folder or argument at fault.

use std::path::PathBuf;

/// What can go wrong while listing, decoding or batching an image folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A loader or folder option out of its range (`argument`: the option's name).
    #[error("{argument}: {message}")]
    InvalidArgument {
        /// The option, as spelled in [`LoaderConfig`](crate::data::LoaderConfig) or the call.
        argument: &'static str,
        /// The value given and what was expected.
        message: String,
    },
    /// The folder does not have the layout `ImageFolder` expects (`path`: the folder at fault).
    #[error("{}: {message}", path.display())]
    Layout {
        /// The folder at fault.
        path: PathBuf,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A file or folder could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file could not be decoded as a JPEG or PNG image.
    #[error("{}: not a decodable JPEG or PNG image: {message}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// libtorch refused to make or pin a batch.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// A worker thread ended without delivering its batch (it panicked).
    #[error("loader: a worker thread stopped before delivering batch {batch}")]
    WorkerStopped {
        /// The batch's index in the pass.
        batch: usize,
    },
}

impl DataError {
    pub(crate) fn argument(argument: &'static str, message: impl Into<String>) -> Self {
        DataError::InvalidArgument { argument, message: message.into() }
    }

    pub(crate) fn layout(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::Layout { path: path.into(), message: message.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }

    pub(crate) fn decode(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::Decode { path: path.into(), message: message.into() }
    }
}

/// `std::result::Result` with [`DataError`].
pub type DataResult<T> = std::result::Result<T, DataError>;
