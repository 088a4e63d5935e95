#include "audit/dsn.h"

#include <cmath>
#include <cstdlib>
#include <vector>

namespace ha_sync::audit {

namespace {

const char kForms[] =
    "expected user:pass@tcp(host:3306)/db[?params], user:pass@unix(/path.sock)/db, "
    "mysql://user:pass@host:3306/db[?params] or sqlite:///absolute/path.db";

Status Malformed(const std::string& why) {
  return Status::Error("malformed database DSN: " + why + " (" + kForms + ")");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool PercentDecode(const std::string& in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

// A Go duration ("5s", "1m30s", "500ms", "1.5h") as whole seconds, rounded
// up so a sub-second timeout does not become "no timeout".
bool ParseGoDuration(const std::string& text, int* seconds) {
  if (text.empty()) return false;
  if (text == "0") {
    *seconds = 0;
    return true;
  }
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    const size_t num_start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    if (i == num_start) return false;
    const std::string num = text.substr(num_start, i - num_start);
    char* end = nullptr;
    const double v = std::strtod(num.c_str(), &end);
    if (end == nullptr || *end != '\0') return false;
    const size_t unit_start = i;
    while (i < text.size() && !((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    const std::string unit = text.substr(unit_start, i - unit_start);
    double scale;
    if (unit == "h") scale = 3600;
    else if (unit == "m") scale = 60;
    else if (unit == "s") scale = 1;
    else if (unit == "ms") scale = 1e-3;
    else if (unit == "us" || unit == "\xC2\xB5s") scale = 1e-6;
    else if (unit == "ns") scale = 1e-9;
    else return false;
    total += v * scale;
  }
  if (!std::isfinite(total) || total > 86400.0 * 365) return false;
  *seconds = static_cast<int>(std::ceil(total));
  return true;
}

Status ParseParams(const std::string& query, Dsn* dsn) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    const std::string item = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (item.empty()) {
      if (amp == query.size()) break;
      continue;
    }
    const size_t eq = item.find('=');
    if (eq == std::string::npos) return Malformed("parameter '" + item + "' has no value");
    const std::string key = item.substr(0, eq);
    std::string value;
    if (!PercentDecode(item.substr(eq + 1), &value)) {
      return Malformed("parameter '" + key + "' has a bad %-escape");
    }
    if (key == "timeout" || key == "readTimeout" || key == "writeTimeout") {
      int secs;
      if (!ParseGoDuration(value, &secs)) {
        return Malformed("parameter '" + key + "' must be a duration like 5s or 2m, got '" +
                         value + "'");
      }
      (key == "timeout" ? dsn->connect_timeout_s
                        : key == "readTimeout" ? dsn->read_timeout_s : dsn->write_timeout_s) = secs;
    } else if (key == "tls") {
      if (value == "true") dsn->tls = Dsn::Tls::kRequired;
      else if (value == "skip-verify") dsn->tls = Dsn::Tls::kSkipVerify;
      else if (value == "preferred") dsn->tls = Dsn::Tls::kPreferred;
      else if (value == "false") dsn->tls = Dsn::Tls::kDisabled;
      else return Malformed("parameter 'tls' must be true, skip-verify, preferred or false");
    } else if (key == "loc" || key == "parseTime" || key == "charset" || key == "collation" ||
               key == "allowNativePasswords" || key == "allowCleartextPasswords" ||
               key == "allowOldPasswords" || key == "clientFoundRows" ||
               key == "columnsWithAlias" || key == "interpolateParams" ||
               key == "multiStatements" || key == "maxAllowedPacket" ||
               key == "rejectReadOnly" || key == "checkConnLiveness" ||
               key == "allowAllFiles") {
      // Meaningful to the Go driver only (loc: how it converts Go times);
      // here the session is always utf8mb4 and every time is UTC.
    } else {
      return Malformed("unknown parameter '" + key + "'");
    }
    if (amp == query.size()) break;
  }
  return Status::Ok();
}

// host, host:port, [v6], [v6]:port
Status ParseHostPort(const std::string& text, Dsn* dsn) {
  std::string host = text, port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos) return Malformed("unclosed '[' in the host");
    host = text.substr(1, close - 1);
    const std::string rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return Malformed("unexpected text after ']' in the host");
      port = rest.substr(1);
    }
  } else if (const size_t colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) return Malformed("an IPv6 host needs [brackets]");
  }
  if (host.empty()) return Malformed("no host name");
  dsn->host = host;
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) {
      return Malformed("the port must be a number from 1 to 65535");
    }
    const int p = std::atoi(port.c_str());
    if (p < 1 || p > 65535) return Malformed("the port must be a number from 1 to 65535");
    dsn->port = p;
  }
  return Status::Ok();
}

Status ParseDatabaseAndParams(const std::string& tail, Dsn* dsn) {
  const size_t q = tail.find('?');
  dsn->database = tail.substr(0, q);
  if (q != std::string::npos) dsn->params = tail.substr(q + 1);
  if (dsn->database.empty()) return Malformed("no database name after '/'");
  for (char c : dsn->database) {
    if (c == '/' || c == '\\' || c == '`' || c == '\'' || c == '"' || c == '\0' ||
        static_cast<unsigned char>(c) < 0x20) {
      return Malformed("the database name contains a character that is not allowed");
    }
  }
  if (dsn->database.size() > 64) return Malformed("the database name is longer than 64 characters");
  return ParseParams(dsn->params, dsn);
}

void SplitUserInfo(const std::string& info, Dsn* dsn) {
  const size_t colon = info.find(':');
  dsn->user = info.substr(0, colon);
  if (colon != std::string::npos) {
    dsn->has_password = true;
    dsn->password_raw = info.substr(colon + 1);
    dsn->password = dsn->password_raw;
  }
}

Result<Dsn> ParseMySqlUrl(const std::string& text) {
  Dsn dsn;
  dsn.kind = Dsn::Kind::kMySql;
  dsn.form = Dsn::Form::kMySqlUrl;
  const std::string rest = text.substr(8);  // after "mysql://"
  const size_t at = rest.rfind('@');
  const size_t slash = rest.find('/', at == std::string::npos ? 0 : at + 1);
  if (slash == std::string::npos) return Malformed("no '/database' after the host");
  if (at != std::string::npos) {
    const std::string info = rest.substr(0, at);
    const size_t colon = info.find(':');
    std::string user_raw = info.substr(0, colon);
    if (!PercentDecode(user_raw, &dsn.user)) return Malformed("bad %-escape in the user name");
    if (colon != std::string::npos) {
      dsn.has_password = true;
      dsn.password_raw = info.substr(colon + 1);
      if (!PercentDecode(dsn.password_raw, &dsn.password)) {
        return Malformed("bad %-escape in the password");
      }
    }
  }
  const std::string hostport = rest.substr(at == std::string::npos ? 0 : at + 1,
                                           slash - (at == std::string::npos ? 0 : at + 1));
  if (Status s = ParseHostPort(hostport, &dsn); !s.ok()) return s;
  if (Status s = ParseDatabaseAndParams(rest.substr(slash + 1), &dsn); !s.ok()) return s;
  return dsn;
}

// [user[:password]@][protocol[(address)]]/dbname[?params]; like the Go
// driver, the last '/' starts the database name and the last '@' before it
// ends the password, so a password may contain ':' and '@'.
Result<Dsn> ParseGoDsn(const std::string& text) {
  Dsn dsn;
  dsn.kind = Dsn::Kind::kMySql;
  dsn.form = Dsn::Form::kGoTcp;
  const size_t slash = text.rfind('/');
  if (slash == std::string::npos) return Malformed("no '/database'");
  const std::string head = text.substr(0, slash);
  const size_t at = head.rfind('@');
  std::string netaddr = head;
  if (at != std::string::npos) {
    SplitUserInfo(head.substr(0, at), &dsn);
    netaddr = head.substr(at + 1);
  }
  if (netaddr.empty() || netaddr == "tcp") {
    dsn.host = "127.0.0.1";
  } else {
    const size_t open = netaddr.find('(');
    if (open == std::string::npos || netaddr.back() != ')') {
      return Malformed("the address must be written tcp(host:port) or unix(/path)");
    }
    const std::string proto = netaddr.substr(0, open);
    const std::string addr = netaddr.substr(open + 1, netaddr.size() - open - 2);
    if (proto == "tcp") {
      if (Status s = ParseHostPort(addr, &dsn); !s.ok()) return s;
    } else if (proto == "unix") {
      if (addr.empty() || addr[0] != '/') return Malformed("unix(...) needs an absolute socket path");
      dsn.form = Dsn::Form::kGoUnix;
      dsn.unix_socket = addr;
    } else {
      return Malformed("unknown protocol '" + proto + "' (use tcp or unix)");
    }
  }
  if (Status s = ParseDatabaseAndParams(text.substr(slash + 1), &dsn); !s.ok()) return s;
  return dsn;
}

}  // namespace

Result<Dsn> ParseDsn(const std::string& text, const std::string& log_dir) {
  if (text.empty()) {
    Dsn dsn;
    dsn.form = Dsn::Form::kDefaultSqlite;
    dsn.sqlite_path = (log_dir.empty() || log_dir.back() != '/' ? log_dir + "/" : log_dir) +
                      "ha-sync.db";
    return dsn;
  }
  for (char c : text) {
    if (c == '\0' || c == '\n' || c == '\r') return Malformed("it contains a control character");
  }
  if (text.rfind("sqlite:", 0) == 0) {
    if (text.rfind("sqlite://", 0) != 0 || text.size() <= 9 || text[9] != '/') {
      return Malformed("a SQLite DSN is sqlite:// followed by an absolute path");
    }
    Dsn dsn;
    dsn.form = Dsn::Form::kSqliteUrl;
    dsn.sqlite_path = text.substr(9);
    if (dsn.sqlite_path.back() == '/') return Malformed("the SQLite path names a directory");
    return dsn;
  }
  if (text.rfind("mysql://", 0) == 0) return ParseMySqlUrl(text);
  if (const size_t scheme_end = text.find("://"); scheme_end != std::string::npos &&
      scheme_end > 0 &&
      text.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789+.-") == scheme_end) {
    return Malformed("unknown scheme (use mysql:// or sqlite://)");
  }
  return ParseGoDsn(text);
}

std::string Dsn::Masked() const {
  const std::string pass = has_password ? ":***" : "";
  const std::string query = params.empty() ? "" : "?" + params;
  const std::string hostport =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  switch (form) {
    case Form::kDefaultSqlite:
    case Form::kSqliteUrl:
      return "sqlite://" + sqlite_path;
    case Form::kGoTcp:
      return user + pass + "@tcp(" + hostport + ")/" + database + query;
    case Form::kGoUnix:
      return user + pass + "@unix(" + unix_socket + ")/" + database + query;
    case Form::kMySqlUrl:
      return "mysql://" + user + pass + "@" + hostport + "/" + database + query;
  }
  return "?";
}

std::string Dsn::Redact(std::string text) const {
  for (const std::string* secret : {&password, &password_raw}) {
    if (secret->empty()) continue;
    for (size_t pos = text.find(*secret); pos != std::string::npos;
         pos = text.find(*secret, pos + 3)) {
      text.replace(pos, secret->size(), "***");
    }
  }
  return text;
}

Result<std::string> ChooseDsn(bool flag_given, const std::string& flag_value, const char* env) {
  if (flag_given) return flag_value;
  if (env == nullptr) return std::string();
  if (*env == '\0') {
    return Status::Error("env HA_SYNC_DB_DSN is set but empty; give a DSN, or unset it to use the "
                         "SQLite store in --log-dir");
  }
  return std::string(env);
}

}  // namespace ha_sync::audit
