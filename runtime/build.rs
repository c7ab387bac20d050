#[cfg(feature = "std")]
fn main() {
	// wasm-opt is left off (default features of substrate-wasm-builder disabled): it adds
	// minutes of C++ build for a smaller runtime blob we do not need yet.
	substrate_wasm_builder::WasmBuilder::build_using_defaults();
}

#[cfg(not(feature = "std"))]
fn main() {}
