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
# (appc discovery's {os} and {arch}). OCI image indexes are not made yet:
# images built with mkOCI are refused.
#
# Refused at evaluation time, naming the images: an empty list, something
# that is not an mkACI result, images of different names or versions, and
# two images of the same platform.
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
  show = i: img: "images[${toString i}] (${img.imageFileName or img.name or "?"})";
in

{
  # The images, built with mkACI, one per platform (`targetSystem`), all with
  # the same name and version.
  images,
}:
let
  n = if isList images then length images else fail "`images` must be a list of mkACI results, got ${toJSON images}";
  idx = genList (i: i) n;
  at = elemAt images;
  notAci = filter (i: !(isAttrs (at i) && (at i) ? aciSpec && (at i) ? imageFileName)) idx;
  oci = filter (i: (at i) ? ociSpec) idx;
  first = head images;
  differ = attr: filter (i: (at i).${attr} != first.${attr}) idx;
  # Two images of one platform have the same file name: the same name,
  # version, os and arch.
  samePlatform = filter (j: j > 0 && filter (i: i < j && (at i).imageFileName == (at j).imageFileName) idx != [ ]) idx;
  checks =
    if n == 0 then fail "`images` is empty; give it the images of each platform, e.g. images = [ amd64Image arm64Image ]"
    else if oci != [ ] then fail "${show (head oci) (at (head oci))} is an OCI image: mkMultiArch makes ACI results for now (OCI image indexes are not made yet); pass mkACI images"
    else if notAci != [ ] then fail "images[${toString (head notAci)}] is not an mkACI result; pass images built with nix2aci.mkACI"
    else if differ "imageName" != [ ] then
      let i = head (differ "imageName"); in
      fail "${show i (at i)} is named ${toJSON (at i).imageName}, images[0] ${toJSON first.imageName}; one name serves every platform, so give them the same name"
    else if differ "imageVersion" != [ ] then
      let i = head (differ "imageVersion"); in
      fail "${show i (at i)} has version ${toJSON (at i).imageVersion}, images[0] ${toJSON first.imageVersion}; give them the same version"
    else if samePlatform != [ ] then
      let j = head samePlatform; i = head (filter (i: (at i).imageFileName == (at j).imageFileName) idx); in
      fail "images[${toString i}] and images[${toString j}] are both ${(at j).imageFileName}: the same platform twice; give each platform one image (targetSystem)"
    else true;

  aci = {
    packages = map (img: "${img}") images;
    defaultName = "multi-arch";
  };
  drv = import ./builder.nix {
    kind = "multi-arch";
    imageName = first.imageName;
    imageVersion = first.imageVersion;
    system = system';
    mkaci = "${mkaci}/bin/mkaci";
    inherit aci;
    extra = { format = "multi-arch"; };
  };
in
builtins.seq checks (drv // {
  inherit images;
  imageName = first.imageName;
  imageVersion = first.imageVersion;
})
