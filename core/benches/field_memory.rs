//! `cargo bench --bench field_memory`: the memory loaded documents of long notes take, per
//! byte stored, on the field data set (`field_data`), one JSON object per line. What the
//! document cache's byte budget assumes (`repo::MEMORY_PER_STORED_BYTE`). Counted as live heap
//! bytes through the `cap` crate's allocator wrapper, which is what the loaded documents keep;
//! the process's resident size is reported beside it: it also holds what the allocator kept
//! back after automerge's transient of a load (about 90 MB for one of these documents), which
//! is why it swings from run to run and is not the cache's figure. Apart from `field.rs` so
//! the timings there run on the system allocator.

mod field_data;

use casebook_core::doc::{DocId, DocKind};
use casebook_core::repo::Repo;
use casebook_core::store::SqliteStore;

use field_data::{dataset, emit, key};

/// Counts the heap bytes live at any moment (the `cap` crate wraps the system allocator).
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn main() {
    let path = dataset();
    // Memory taken by loaded documents of long notes, per byte stored: what the document
    // cache's byte budget assumes (`repo::MEMORY_PER_STORED_BYTE`). Counted as live heap
    // bytes (the allocator's own count), which is what the loaded documents keep; the
    // process's resident size is reported beside it: it also holds what the allocator kept
    // back after automerge's transient of a load (about 90 MB for one of these documents),
    // which is why it swings from run to run and is not the cache's figure.
    {
        let mut repo = Repo::open(SqliteStore::open(&path, key()).expect("open")).expect("repo");
        repo.set_cache_budget(usize::MAX);
        let cases = repo.cases().expect("cases");
        let (heap_before, resident_before) = (ALLOCATOR.allocated(), resident_bytes());
        let mut stored = 0usize;
        for summary in cases.iter().take(20) {
            let doc = DocId::new(summary.case, DocKind::Visits);
            let on_disk = repo.store().load(&doc).expect("load").expect("stored");
            stored += on_disk.snapshot.as_ref().map_or(0, Vec::len)
                + on_disk.chunks.iter().map(Vec::len).sum::<usize>();
            drop(on_disk);
            repo.read(doc, |d| Ok(d.heads().len())).expect("load");
        }
        let heap = ALLOCATOR.allocated().saturating_sub(heap_before);
        let resident = resident_bytes().saturating_sub(resident_before);
        emit(
            "field.loaded_memory_per_stored_byte",
            heap as f64 / stored as f64,
            "ratio",
        );
        emit(
            "field.loaded_resident_per_stored_byte",
            resident as f64 / stored as f64,
            "ratio",
        );
        emit(
            "field.loaded_stored_bytes_per_doc",
            stored as f64 / 20.0,
            "bytes",
        );
    }
}
