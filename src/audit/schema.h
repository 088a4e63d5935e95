// The audit schema: the seed's two tables, sync_iterations and
// sync_operations, in MySQL/MariaDB and the closest SQLite equivalent, plus
// one compatible addition: sync_iterations.run_id (CHAR(32), UNIQUE, NULL
// allowed), the key that makes the opslog flush exactly-once.
// docs/schema.md describes both dialects.
//
// EnsureSchema creates what is missing (CREATE TABLE / INDEX IF NOT EXISTS)
// and adds run_id to a seed-created sync_iterations that lacks it. It is
// idempotent and safe when several processes run it at once.
//
// Column limits shared by both dialects (SQLite enforces them with CHECKs,
// MySQL with strict mode); values are cut to fit before they are written
// (see FitColumn).
//
// Thread-safety: uses the given connection only.
#pragma once

#include <cstddef>
#include <string>

#include "audit/sql_connection.h"

namespace ha_sync::audit {

constexpr size_t kMaxPairChars = 255;
constexpr size_t kMaxDirectionChars = 64;
constexpr size_t kMaxRootChars = 512;        // src, dest
constexpr size_t kMaxFilepathChars = 4096;   // sync_operations.filepath
constexpr size_t kMaxOpErrorChars = 4096;    // sync_operations.error_message
// sync_iterations.error_message is TEXT (65535 bytes): 16000 characters fit.
constexpr size_t kMaxRunErrorChars = 16000;

Status EnsureSchema(SqlConnection* conn);

// The CREATE statements of one dialect, in order (for docs and tests).
const char* const* SchemaStatements(SqlDialect dialect, size_t* count);

// Cuts valid UTF-8 `text` to at most `max_chars` characters at a character
// boundary. Text that is not valid UTF-8
// is first escaped with EscapeForDisplay.
std::string FitColumn(const std::string& text, size_t max_chars);

// The filepath as stored: EncodePathForText(path), and when that is longer
// than the column (a path beyond 4096 bytes, which syncs through dirfds, or
// a non-UTF-8 one over 3069 bytes), that text cut (for "b64:" to a whole
// base64 quantum) followed by kCutPathMark and the MD5 of the whole path,
// so distinct paths stay distinct rows. docs/schema.md documents this.
inline constexpr const char* kCutPathMark = "#cut-md5:";
std::string StoredFilepath(const std::string& path);

}  // namespace ha_sync::audit
