//! torchvision's `ImageFolder` layout: `ROOT/<class>/**/<image>`, classes in sorted folder-name order,
//! files listed once (paths only: the data set never sits in memory).

use std::path::{Path, PathBuf};

use super::error::{DataError, DataResult};

/// File extensions taken as images (compared without case, so ImageNet's `.JPEG` counts). Other files
/// are ignored. Content is decoded by its magic bytes, whatever the extension says.
pub const EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// One image file and its class index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The file.
    pub path: PathBuf,
    /// Its class index into [`ImageFolder::classes`].
    pub label: i64,
}

/// The image files of one split of a folder in torchvision's `ImageFolder` layout.
///
/// Samples come class by class, each class's files in torchvision's order (folders sorted by path,
/// each folder's files sorted by name), so sample `i` is the same file as torchvision's `samples[i]`
/// for folders holding only `.jpg`, `.jpeg` and `.png` files.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    root: PathBuf,
    classes: Vec<String>,
    samples: Vec<Sample>,
    ignored: usize,
}

impl ImageFolder {
    /// A training split: the classes are `root`'s sub-folder names, sorted (torchvision's
    /// `find_classes`), and every class needs at least one image (torchvision refuses an empty one too).
    pub fn new(root: impl AsRef<Path>) -> DataResult<Self> {
        let root = root.as_ref();
        let classes = class_folders(root)?;
        if classes.is_empty() {
            return Err(DataError::layout(root, "no class folders, expected <class>/<images> sub-folders"));
        }
        let folder = Self::list(root, classes)?;
        let empty: Vec<&String> = folder
            .classes
            .iter()
            .enumerate()
            .filter(|(k, _)| !folder.samples.iter().any(|s| s.label == *k as i64))
            .map(|(_, c)| c)
            .collect();
        if !empty.is_empty() {
            let message = format!(
                "no image files ({}) for the classes {empty:?}; every training class needs at least one",
                EXTENSIONS.map(|e| format!(".{e}")).join(", ")
            );
            return Err(DataError::layout(root, message));
        }
        Ok(folder)
    }

    /// An evaluation split labelled by a training split's `classes`: each sub-folder of `root` must be one
    /// of them (an unknown one is an error naming it); a class may be missing or empty.
    pub fn with_classes(root: impl AsRef<Path>, classes: &[String]) -> DataResult<Self> {
        let root = root.as_ref();
        if let Some(unknown) = class_folders(root)?.into_iter().find(|c| !classes.contains(c)) {
            let message = format!("class folder {unknown:?} is not among the training classes {classes:?}");
            return Err(DataError::layout(root, message));
        }
        Self::list(root, classes.to_vec())
    }

    /// Lists the image files of each class folder of `root` that exists.
    fn list(root: &Path, classes: Vec<String>) -> DataResult<Self> {
        let (mut samples, mut ignored) = (Vec::new(), 0);
        for (label, name) in classes.iter().enumerate() {
            let dir = root.join(name);
            if !dir.is_dir() {
                continue;
            }
            for path in files_in_torchvision_order(&dir)? {
                if is_image(&path) {
                    samples.push(Sample { path, label: label as i64 });
                } else {
                    ignored += 1;
                }
            }
        }
        Ok(ImageFolder { root: root.to_path_buf(), classes, samples, ignored })
    }

    /// The split's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Class names in label order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The image files with their labels.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Number of image files.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the split has no image file.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Files left out because their extension is not an image's.
    pub fn ignored(&self) -> usize {
        self.ignored
    }

    /// Keeps only the samples whose index `keep` accepts (for example a held-out subset).
    pub fn retain_indices(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mut i = 0;
        self.samples.retain(|_| {
            i += 1;
            keep(i - 1)
        });
    }
}

/// The sorted names of `dir`'s sub-folders (symbolic links followed, as torchvision does).
fn class_folders(dir: &Path) -> DataResult<Vec<String>> {
    let mut classes = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        if entry.path().is_dir() {
            classes.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    classes.sort();
    Ok(classes)
}

fn is_image(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Every file under `dir` as `sorted(os.walk(dir))` visits them: folders in sorted path order (as
/// strings: `a/b-c` before `a/b/c`), each folder's files sorted by name.
fn files_in_torchvision_order(dir: &Path) -> DataResult<Vec<PathBuf>> {
    let mut folders = vec![dir.to_path_buf()];
    let mut listed: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    while let Some(folder) = folders.pop() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&folder).map_err(|e| DataError::io(&folder, e))? {
            let path = entry.map_err(|e| DataError::io(&folder, e))?.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
        files.sort_by(|a, b| a.as_os_str().as_encoded_bytes().cmp(b.as_os_str().as_encoded_bytes()));
        listed.push((folder, files));
    }
    listed.sort_by(|a, b| a.0.as_os_str().as_encoded_bytes().cmp(b.0.as_os_str().as_encoded_bytes()));
    Ok(listed.into_iter().flat_map(|(_, files)| files).collect())
}
