// Names are bytes. These helpers turn byte strings into text for the places
// that need text (terminal, JSON, SQL) and back.
//
// Stored-path encoding (JSON opslog, database, HTTP API): a relative path
// that is valid UTF-8 and does not start with "b64:" is stored as is;
// any other path is stored as "b64:" + standard base64 of its bytes.
// DecodePathFromText(EncodePathForText(p)) == p for every byte string p.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace ha_sync {

bool IsValidUtf8(std::string_view bytes);

// Renders bytes for a terminal or log line: printable ASCII and valid UTF-8
// pass through, everything else becomes \n, \t, \\ or \xHH.
std::string EscapeForDisplay(std::string_view bytes);

// One word for a POSIX shell, for commands printed to be pasted: as is when
// it holds only [A-Za-z0-9_./:=@%+,-]; in '...' (a ' as '\'') when it holds
// other printable bytes; as $'...' with \xHH when it holds control or
// non-UTF-8 bytes (bash, zsh, ksh), so the terminal never sees them raw.
std::string ShellQuote(std::string_view word);

std::string Base64Encode(std::string_view bytes);
bool Base64Decode(std::string_view text, std::string* out);

std::string EncodePathForText(std::string_view path);
bool DecodePathFromText(std::string_view text, std::string* path);

}  // namespace ha_sync
