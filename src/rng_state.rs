//! A mixer's random state, saved with a checkpoint and restored on resume.

use rand_chacha::ChaCha8Rng;

use crate::error::{ensure, Error, Result};

/// Where a [`Mixer`](crate::Mixer)'s ChaCha8 stream stands: seed, stream (the data-parallel rank) and
/// position. A mixer restored from it draws the same plans as the one it was taken from would have.
/// Data-parallel ranks each save their own: their streams differ, and so can their positions
/// ([`RngState::stream`] tells which rank's it is).
///
/// Store it with a checkpoint as bytes ([`RngState::to_bytes`]), e.g. in a file beside the `VarStore`'s
/// (`std::fs::write("model.mixer", state.to_bytes())`), or in the same file as a uint8 tensor beside the
/// variables (second example). Not as a variable of the `VarStore`: its variables are trainable floats,
/// which would not keep these bytes.
///
/// ```
/// use tch_mixcut::{MixConfig, Mixer, RngState};
/// let mut mixer = Mixer::new(MixConfig::deit(10), 42)?;
/// let _ = mixer.sample_plan(&[8, 3, 32, 32])?;
/// let saved = mixer.rng_state().to_bytes();                    // at the checkpoint
/// let next = mixer.sample_plan(&[8, 3, 32, 32])?;
///
/// let mut resumed = Mixer::new(MixConfig::deit(10), 0)?;       // after a restart
/// resumed.set_rng_state(&RngState::from_bytes(&saved)?);
/// assert_eq!(resumed.sample_plan(&[8, 3, 32, 32])?, next);
/// # Ok::<(), tch_mixcut::Error>(())
/// ```
///
/// One checkpoint file: `VarStore::load` reads its variables and passes over the extra entry.
///
/// ```
/// use tch::{nn, Device, Tensor};
/// use tch_mixcut::{MixConfig, Mixer, RngState};
/// # fn main() -> anyhow::Result<()> {
/// # let path = std::env::temp_dir().join(format!("tch-mixcut-doc-{}.ot", std::process::id()));
/// let vs = nn::VarStore::new(Device::Cpu);
/// let _layer = nn::linear(vs.root() / "fc", 4, 2, Default::default());
/// let mixer = Mixer::new(MixConfig::deit(10), 42)?;
/// let mut entries: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
/// entries.push(("mixer.rng_state".into(), Tensor::from_slice(&mixer.rng_state().to_bytes())));
/// Tensor::save_multi(&entries, &path)?;
///
/// let mut restored = nn::VarStore::new(Device::Cpu);
/// let _layer = nn::linear(restored.root() / "fc", 4, 2, Default::default());
/// restored.load(&path)?;
/// let saved = Tensor::load_multi(&path)?.into_iter().find(|(name, _)| name == "mixer.rng_state");
/// let state = RngState::from_bytes(&Vec::<u8>::try_from(&saved.expect("saved above").1)?)?;
/// assert_eq!(state, mixer.rng_state());
/// # std::fs::remove_file(&path)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RngState {
    seed: [u8; 32],
    stream: u64,
    word_pos: u128,
}

/// Format tag of [`RngState::to_bytes`].
const VERSION: u8 = 1;

/// One past the last word position of a ChaCha8 stream (2^64 blocks of 16 words).
const WORD_POS_END: u128 = 1 << 68;

impl RngState {
    /// Length of [`RngState::to_bytes`]: a version byte, the 32-byte seed, the stream and the position.
    pub const BYTES: usize = 1 + 32 + 8 + 16;

    pub(crate) fn capture(rng: &ChaCha8Rng) -> Self {
        RngState { seed: rng.get_seed(), stream: rng.get_stream(), word_pos: rng.get_word_pos() }
    }

    pub(crate) fn restore(&self) -> ChaCha8Rng {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos);
        rng
    }

    /// The stream: the `rank` given to [`Mixer::for_rank`](crate::Mixer::for_rank) (0 for
    /// [`Mixer::new`](crate::Mixer::new)). Each data-parallel rank saves and restores its own state;
    /// checking this against the rank on resume catches one rank's file restored on another, which would
    /// give both ranks the same plans.
    pub fn stream(&self) -> u64 {
        self.stream
    }

    /// The state as bytes (little-endian, versioned), for a checkpoint.
    pub fn to_bytes(&self) -> [u8; Self::BYTES] {
        let mut out = [0u8; Self::BYTES];
        out[0] = VERSION;
        out[1..33].copy_from_slice(&self.seed);
        out[33..41].copy_from_slice(&self.stream.to_le_bytes());
        out[41..].copy_from_slice(&self.word_pos.to_le_bytes());
        out
    }

    /// The state from [`RngState::to_bytes`]'s output; an [`Error::InvalidArgument`] for other bytes (another
    /// length or version, or a stream position `to_bytes` never writes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        ensure!(
            bytes.len() == Self::BYTES && bytes[0] == VERSION,
            Error::argument(
                "bytes",
                format!(
                    "got {} bytes starting with {:?}, expected {} bytes of RngState::to_bytes (version {VERSION})",
                    bytes.len(),
                    bytes.first(),
                    Self::BYTES
                )
            )
        );
        let seed = bytes[1..33].try_into().expect("length checked");
        let stream = u64::from_le_bytes(bytes[33..41].try_into().expect("length checked"));
        let word_pos = u128::from_le_bytes(bytes[41..].try_into().expect("length checked"));
        // ChaCha8's position is a 64-bit block counter times 16 words: `to_bytes` never writes 2^68 or more,
        // and the generator would silently drop the high bits (2^72 would replay position 0).
        ensure!(
            word_pos < WORD_POS_END,
            Error::argument(
                "bytes",
                format!("got a word position of {word_pos} (bytes 41..57), expected one below 2^68 as RngState::to_bytes writes")
            )
        );
        Ok(RngState { seed, stream, word_pos })
    }
}
