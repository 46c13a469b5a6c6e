//! Fat and thin app images: one ACI holding the app's rootfs, with the
//! closure inside (fat) or every store path mounted read-only from the host
//! (thin: the image lists one mount point per path, and `<image>.mounts`
//! gives rkt the matching `--volume`s). See `docs/appc.md`.

use crate::image::plan::StoreLayout;
use crate::result::ResultWriter;

use super::{finish_app, prepare_app, Dependencies};
use crate::formats::{BuildError, Built, Input};

/// Builds the fat (or, with `thin = true`, thin) app image `input` describes.
pub fn build(input: &Input, result: &mut ResultWriter) -> Result<Built, BuildError> {
    let spec = input.spec();
    let layout = if spec.thin { StoreLayout::Thin } else { StoreLayout::Fat };
    let app = prepare_app(input, layout)?;
    if spec.layer_prefix.is_some() {
        return Err(BuildError::PrefixWithoutLayered);
    }
    finish_app(input, result, app, Dependencies::default())
}
