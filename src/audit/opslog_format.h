// The JSONL opslog format: one header line, one line per operation, one
// footer line. Every line is a JSON object with a "type" member
// ("header" | "op" | "footer" | "intent"). An "intent" line (operation,
// filepath, size_before, started_at) may precede a change to dest: an intent
// with no matching "op" line (same operation and filepath) after it is an
// operation the process was killed during (opslog_flush.h stores it). Paths are encoded with EncodePathForText;
// times are "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC). See docs/cli.md, "Audit files".
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <variant>

#include "ha_sync/op_record.h"
#include "ha_sync/status.h"

namespace ha_sync::audit {

constexpr int kOpslogFormatVersion = 1;

// Each returns one line without the trailing newline.
std::string FormatHeaderLine(const RunHeader& header);
std::string FormatOpLine(const OpRecord& op);
std::string FormatFooterLine(const RunFooter& footer);
std::string FormatIntentLine(const OpRecord& op);

// An "intent" line: the fields known before the operation.
struct OpIntent {
  OpRecord op;
};

// A "stale" line (`ha-sync apply`): a planned operation skipped because a
// precondition changed since the plan. Not a sync_operations row.
struct OpStale {
  OpKind operation = OpKind::kCreate;
  std::string filepath;
  std::string reason;
};
std::string FormatStaleLine(const OpStale& stale);

using OpslogLine = std::variant<RunHeader, OpRecord, RunFooter, OpIntent, OpStale>;
// Parses one line; the error names what is wrong but not the whole line.
Result<OpslogLine> ParseOpslogLine(const std::string& line);

// "2026-11-25T20:03:10.123Z" -> ms since the epoch.
bool ParseUtcMs(const std::string& text, int64_t* ms);

}  // namespace ha_sync::audit
