//! The in-tree uniffi binding generator (library mode), so the generator always matches the
//! uniffi version the library was built with. Used by `scripts/generate-bindings.sh`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
