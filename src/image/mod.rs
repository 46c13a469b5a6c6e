//! What goes into an image, in no format: the mkACI arguments as an appc
//! manifest ([`spec`], [`manifest`]), the rootfs as an ordered plan with the
//! store paths as entries and their popularity order ([`plan`]), users,
//! groups, files and modes ([`contents`]), the planned and checked rootfs of
//! an app ([`rootfs`]), the closure SBOM ([`sbom`]), the compression an image
//! asks for ([`compression`]) and image IDs ([`image_id`]). Every format
//! starts from here.

pub mod compression;
pub mod contents;
pub mod elf;
pub mod image_id;
pub mod manifest;
pub mod plan;
pub mod rootfs;
pub mod sbom;
pub mod spec;
