// metav1.MicroTime, the type of a Lease's acquireTime and renewTime, exactly
// as the API server writes it: "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC, six
// fractional digits, literal Z). The server rejects other digit counts with
// 400 BadRequest (Go's time.Parse with RFC3339Micro, apimachinery
// micro_time.go), so we write only this form and, since the server emits only
// this form, parse only this form.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ha_sync::k8s {

using WallTime = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;

// Truncates to whole microseconds (towards the past, also before 1970).
WallTime ToWallTime(std::chrono::system_clock::time_point t);

std::string FormatMicroTime(WallTime t);

// Strict: exactly 27 characters, a valid calendar date and time of day
// (second 0-59), '.' and six digits, then 'Z'. Anything else is nullopt.
std::optional<WallTime> ParseMicroTime(std::string_view text);

}  // namespace ha_sync::k8s
