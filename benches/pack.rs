//! Packs host trees into an ACI with `mkaci::archive::write_aci` (or, with
//! `--layer`, into an OCI layer with `mkaci::archive::write_layer`) and prints
//! time and throughput. Used by `scripts/bench` and for choosing defaults.
//!
//! cargo bench --bench pack -- [--gzip N | --xz N | --none] [--threads N] [--layer] [--machine N] OUT DIR...
//!
//! `--machine N` packs for the ELF machine N (62 = x86-64, 183 = aarch64): the
//! reader then checks every regular file's first bytes for an ELF header of
//! another machine and counts those, as an image with a platform does; without
//! it nothing is checked, so the two runs show what the check costs.

use std::path::PathBuf;
use std::time::Instant;

use mkaci::archive::{write_aci, write_layer, ArchiveOptions, Compression};
use mkaci::image::plan::{mode, Entry, ImagePath, Node, Owner, Plan};

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut compression = Compression::gzip(mkaci::archive::DEFAULT_GZIP_LEVEL).unwrap();
    let mut threads = 0;
    let mut layer = false;
    let mut machine = None;
    let mut rest = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--gzip" => compression = Compression::gzip(args.next().unwrap().parse().unwrap()).unwrap(),
            "--xz" => compression = Compression::xz(args.next().unwrap().parse().unwrap()).unwrap(),
            "--none" => compression = Compression::None,
            "--threads" => threads = args.next().unwrap().parse().unwrap(),
            "--layer" => layer = true,
            "--machine" => machine = Some(args.next().unwrap().parse::<u16>().unwrap()),
            _ => rest.push(a),
        }
    }
    if rest.len() < 2 {
        eprintln!("usage: pack [--gzip N | --xz N | --none] [--threads N] [--layer] [--machine N] OUT DIR...");
        std::process::exit(2);
    }
    let out = PathBuf::from(&rest[0]);
    let mut srcs: Vec<PathBuf> = rest[1..].iter().map(PathBuf::from).collect();
    srcs.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    let mut entries = vec![
        Entry { path: ImagePath::new("nix").unwrap(), node: Node::Dir { mode: mode::DIR, owner: Owner::ROOT } },
        Entry { path: ImagePath::new("nix/store").unwrap(), node: Node::Dir { mode: mode::DIR, owner: Owner::ROOT } },
    ];
    for s in &srcs {
        let name = s.file_name().unwrap().to_string_lossy();
        entries.push(Entry {
            path: ImagePath::new(format!("nix/store/{name}")).unwrap(),
            node: Node::HostTree { source: s.clone() },
        });
    }
    let manifest = br#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bench","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}]}"#;
    let plan = Plan { entries };
    let opts = ArchiveOptions { compression, threads, machine };
    let t = Instant::now();
    let (tar_size, out_size, entries, foreign, id) = if layer {
        let sum = write_layer(&plan, &out, &opts).unwrap();
        let id = format!("diff_id={} digest={}", sum.diff_id, sum.digest);
        (sum.tar_size, sum.compressed_size, sum.entries, sum.foreign_elf.count, id)
    } else {
        let sum = write_aci(manifest, &plan, &out, &opts).unwrap();
        (sum.tar_size, sum.compressed_size, sum.entries, sum.foreign_elf.count, format!("id={}", sum.image_id))
    };
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{compression:?} threads={threads} layer={layer} machine={machine:?} time={secs:.3}s tar={tar_size} out={out_size} ratio={:.4} MB/s={:.1} entries={entries} foreign_elf={foreign} {id}",
        out_size as f64 / tar_size as f64,
        tar_size as f64 / 1e6 / secs,
    );
}
