# mkMultiArch: one result from images of several platforms, all with the same
# name and version, so that one name serves each platform its own image.
#
#   mkMultiArch = import ./nix/mkMultiArch.nix { inherit mkaci system; };
#   mkMultiArch { images = [ (mkACI { ...; }) (mkACI { ...; targetSystem = "aarch64-linux"; }) ]; }
#
# For ACIs the result holds every platform's image (links to the images'
# own results, which Nix builds once each), listed in its nix2aci.json:
# postprocess.sh signs and publishes them all, and `--site` serves them
# under the one name, so rkt fetches the image of its own os and arch
# (appc discovery's {os} and {arch}).
#
# For OCI images (mkOCI results) the result is one image layout,
# `<name>-<version>.oci`, whose index.json tags (with the images' tag) an
# image index listing each platform's manifest with its `platform`; every
# blob is linked to the image's own result, once however many images share
# it. postprocess.sh publishes the layout and one docker-archive per
# platform (a docker-archive cannot hold an index); `--push` sends the whole
# index.
#
# Refused at evaluation time, naming the images: an empty list, something
# that is not an mkACI or mkOCI result, a mix of the two, images of
# different names, versions or (OCI) tags, and two images of the same
# platform. mkaci checks the same again when it builds.
#
# Needs nothing from nixpkgs.
{
  # The mkaci package: a derivation (or store path) with bin/mkaci.
  mkaci,
  # The Nix system the result is built on. Default: `mkaci.system`.
  system ? null,
}:
let
  inherit (builtins) isList isAttrs length head filter genList elemAt toJSON;
  fail = msg: throw "mkMultiArch: ${msg}";
  system' =
    if system != null then system
    else if isAttrs mkaci && mkaci ? system then mkaci.system
    else fail "no Nix system known: import nix/mkMultiArch.nix { inherit mkaci system; }";
  show = i: img: "images[${toString i}] (${img.imageFileName or img.ociLayoutName or img.name or "?"})";
in

{
  # The images, built with mkACI, or all with mkOCI, one per platform
  # (`targetSystem`), all with the same name and version.
  images,
}:
let
  n = if isList images then length images else fail "`images` must be a list of mkACI results, got ${toJSON images}";
  idx = genList (i: i) n;
  at = elemAt images;
  isOci = img: isAttrs img && img ? ociSpec && img ? ociLayoutName;
  isAci = img: isAttrs img && img ? aciSpec && img ? imageFileName && !(img ? ociSpec);
  notImage = filter (i: !(isOci (at i) || isAci (at i))) idx;
  first = head images;
  oci = isOci first;
  # The image of another kind than images[0].
  otherKind = filter (i: isOci (at i) != oci) idx;
  # What tells two images' platforms apart: the file name of an ACI (name,
  # version, os, arch), the OCI platform of an OCI image.
  platformOf = img: if oci then toJSON img.platform else img.imageFileName;
  platformText = img: if oci then "${img.platform.os}/${img.platform.architecture}${if img.platform ? variant then "/" + img.platform.variant else ""}" else img.imageFileName;
  kindText = img: if isOci img then "an mkOCI image" else "an mkACI image";
  differ = attr: filter (i: (at i).${attr} != first.${attr}) idx;
  # Two images of one platform have the same file name: the same name,
  # version, os and arch.
  samePlatform = filter (j: j > 0 && filter (i: i < j && platformOf (at i) == platformOf (at j)) idx != [ ]) idx;
  checks =
    if n == 0 then fail "`images` is empty; give it the images of each platform, e.g. images = [ amd64Image arm64Image ]"
    else if notImage != [ ] then fail "images[${toString (head notImage)}] is not an mkACI or mkOCI result; pass images built with nix2aci.mkACI or nix2aci.mkOCI"
    else if otherKind != [ ] then
      let i = head otherKind; in
      fail "${show i (at i)} is ${kindText (at i)}, ${show 0 first} ${kindText first}; one result holds ACIs or OCI images, not both: pass all mkACI or all mkOCI images"
    else if differ "imageName" != [ ] then
      let i = head (differ "imageName"); in
      fail "${show i (at i)} is named ${toJSON (at i).imageName}, images[0] ${toJSON first.imageName}; one name serves every platform, so give them the same name"
    else if differ "imageVersion" != [ ] then
      let i = head (differ "imageVersion"); in
      fail "${show i (at i)} has version ${toJSON (at i).imageVersion}, images[0] ${toJSON first.imageVersion}; give them the same version"
    else if oci && filter (i: (at i).tag != first.tag) idx != [ ] then
      let i = head (filter (i: (at i).tag != first.tag) idx); in
      fail "${show i (at i)} is tagged ${toJSON (at i).tag}, images[0] ${toJSON first.tag}; the index has one tag, so give the images the same `tag`"
    else if samePlatform != [ ] then
      let j = head samePlatform; i = head (filter (i: platformOf (at i) == platformOf (at j)) idx); in
      fail "images[${toString i}] and images[${toString j}] are both ${platformText (at j)}: the same platform twice; give each platform one image (targetSystem)"
    else true;

  aci = {
    packages = map (img: "${img}") images;
    defaultName = "multi-arch";
  };
  names = import ./names.nix;
  drv = import ./builder.nix {
    kind = if oci then "oci-multi-arch" else "multi-arch";
    imageName = first.imageName;
    imageVersion = first.imageVersion;
    system = system';
    mkaci = "${mkaci}/bin/mkaci";
    inherit aci;
    extra = { format = if oci then "oci-multi-arch" else "multi-arch"; };
  };
in
builtins.seq checks (drv // {
  inherit images;
  imageName = first.imageName;
  imageVersion = first.imageVersion;
} // (if oci then {
  # The image index layout inside the result, `<name>-<version>.oci`.
  ociLayoutName = names.ociIndexName { name = first.imageName; version = first.imageVersion; };
  inherit (first) tag;
  platforms = map (img: img.platform) images;
} else { }))
