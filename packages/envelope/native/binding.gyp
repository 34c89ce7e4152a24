# ward_xts: N-API addon calling the OpenSSL inside the node binary. It links no library: the
# headers come from node's include dir (<nodedir>/include/node/openssl) and the symbols are
# resolved against the node executable at load time.
{
  "targets": [
    {
      "target_name": "ward_xts",
      "sources": ["ward_xts.c", "ward_xts_map.c", "ward_xts_io.c", "xts_core.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=c11", "-fvisibility=hidden"],
      "cflags!": ["-fno-exceptions"],
      "defines": ["NAPI_VERSION=8", "_DEFAULT_SOURCE"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O2", "-std=c11"] }
    }
  ]
}
