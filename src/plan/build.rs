//! Building a [`Plan`] from the closure and the image description.
//! (Implementation in progress.)

use super::*;
