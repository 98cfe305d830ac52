"""The dataset factory: `generate` (recipes -> latents -> frames), `pools` (the pools variants read),
`pipeline` (samples -> shards -> commits -> manifests -> card, on Ray or in process), `tools` (flags,
estimates, previews, the procedural source); `cli` is the `synthvid-factory` entry point."""
