// The page's files, compiled into the binary from src/http/assets/ by
// embed_assets.py: the dashboard works offline and needs no files at run
// time.
//
// Thread-safety: immutable data.
#pragma once

#include <string_view>

namespace ha_sync::http {

struct StaticAsset {
  std::string_view path;          // "/app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;
};

// nullptr when no asset has this path. "/" is the page (index.html).
const StaticAsset* FindStaticAsset(std::string_view path);

}  // namespace ha_sync::http
