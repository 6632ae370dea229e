{
  "targets": [
    {
      "target_name": "af_packet",
      "sources": ["native/af_packet.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "cflags!": ["-fno-exceptions"],
      "conditions": [
        ["OS!='linux'", {"type": "none"}]
      ]
    },
    {
      "target_name": "tls_engine",
      "sources": ["native/tls_engine.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE", "OPENSSL_API_COMPAT=30000", "OPENSSL_NO_DEPRECATED"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "cflags!": ["-fno-exceptions"],
      "conditions": [
        ["OS!='linux'", {"type": "none"}]
      ]
    }
  ]
}
