// How audit rows look in the HTTP API (docs/api.md): times as ISO 8601 UTC
// strings with milliseconds, counts as numbers, NULL as null. Every text is
// valid UTF-8 in the output: a stored filepath is returned as stored
// ("filepath") and decoded for people ("display_path": the path's bytes
// through EscapeForDisplay, so invalid UTF-8 and control characters show as
// \xHH, \n, ...); other texts that are not valid UTF-8 are escaped the same
// way.
//
// Thread-safety: pure functions.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "http/dashboard_queries.h"

namespace ha_sync::http {

// "2026-11-25T20:03:10.123Z".
std::string IsoTime(int64_t ms);
// Valid UTF-8 for JSON: the text itself, or escaped for display.
std::string SafeText(const std::string& text);
// The stored filepath as a person should read it.
std::string DisplayPath(const std::string& stored);
bool IsConflictCopy(const std::string& stored);

boost::json::object IterationJson(const IterationView& it);
boost::json::object OperationJson(const OperationRow& op);

}  // namespace ha_sync::http
