#include "ha_sync/flag_table.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <iomanip>
#include <sstream>

#include "ha_sync/text.h"

namespace ha_sync {
namespace po = boost::program_options;

bool ParseCount(const std::string& text, int64_t min, int64_t max, int64_t* out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

bool ParseNonNegativeDecimal(const std::string& text, double* out) {
  if (text.empty() || text.find_first_not_of("0123456789.") != std::string::npos) return false;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (*end != '\0' || !std::isfinite(v) || v < 0) return false;
  *out = v;
  return true;
}

std::optional<bool> ParseSwitchValue(const std::string& text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "true" || lower == "1" || lower == "yes") return true;
  if (lower == "false" || lower == "0" || lower == "no") return false;
  return std::nullopt;
}

namespace {

std::string Quoted(const std::string& value) { return "'" + EscapeForDisplay(value) + "'"; }

}  // namespace

FlagTable::FlagTable(const std::string& caption) : desc_(caption) {}

FlagTable& FlagTable::Add(const char* name, const std::string& value_name, const char* help,
                          Kind kind, Parser parse) {
  po::typed_value<std::string>* single = nullptr;
  switch (kind) {
    case Kind::kValue:
      single = po::value<std::string>();
      break;
    case Kind::kSwitch:
      single = po::value<std::string>()->implicit_value("true");
      break;
    case Kind::kList:
      desc_.add_options()(name, po::value<std::vector<std::string>>()->value_name(value_name), help);
      break;
  }
  if (single != nullptr) desc_.add_options()(name, single->value_name(value_name), help);
  entries_.push_back({name, value_name, kind, std::move(parse)});
  return *this;
}

FlagTable& FlagTable::Value(const char* name, const char* value_name, const char* help, Parser parse) {
  return Add(name, value_name, help, Kind::kValue, std::move(parse));
}

FlagTable& FlagTable::Text(const char* name, const char* value_name, const char* help,
                           std::string* out) {
  return Value(name, value_name, help, [out](const std::string& v) {
    *out = v;
    return std::string();
  });
}

FlagTable& FlagTable::Text(const char* name, const char* value_name, const char* help,
                           std::optional<std::string>* out) {
  return Value(name, value_name, help, [out](const std::string& v) {
    *out = v;
    return std::string();
  });
}

FlagTable& FlagTable::List(const char* name, const char* value_name, const char* help, Parser parse) {
  return Add(name, value_name, help, Kind::kList, std::move(parse));
}

FlagTable& FlagTable::Count(const char* name, const char* value_name, const char* help, int64_t min,
                            int64_t max, int64_t* out, const char* unit) {
  std::string what = "--" + std::string(name) + " must be a whole number" +
                     (unit != nullptr ? " of " + std::string(unit) : std::string()) + " from " +
                     std::to_string(min) + " to " + std::to_string(max) + ", got ";
  return Value(name, value_name, help, [what, min, max, out](const std::string& v) {
    return ParseCount(v, min, max, out) ? std::string() : what + Quoted(v);
  });
}

FlagTable& FlagTable::Decimal(const char* name, const char* value_name, const char* help, double max,
                              double* out, const char* unit) {
  std::ostringstream range;
  range << std::fixed << std::setprecision(0) << " from 0 to " << max;
  std::string what = "--" + std::string(name) + " must be a number" +
                     (unit != nullptr ? " of " + std::string(unit) : std::string()) + range.str() + ", got ";
  return Value(name, value_name, help, [what, max, out](const std::string& v) {
    double parsed = 0;
    if (!ParseNonNegativeDecimal(v, &parsed) || !(parsed <= max)) return what + Quoted(v);
    *out = parsed;
    return std::string();
  });
}

FlagTable& FlagTable::Choice(const char* name, const char* help, std::vector<std::string> allowed,
                             std::string* out) {
  std::string names;
  for (size_t i = 0; i < allowed.size(); ++i) names += (i == 0 ? "" : "|") + allowed[i];
  std::string what = "--" + std::string(name) + " must be one of " + names + ", got ";
  return Add(name, names, help, Kind::kValue, [allowed, what, out](const std::string& v) {
    for (const std::string& a : allowed) {
      if (v == a) {
        *out = v;
        return std::string();
      }
    }
    return what + Quoted(v);
  });
}

FlagTable& FlagTable::Switch(const char* name, const char* help, bool* out) {
  std::string what = "--" + std::string(name) +
                     " takes no value or one of true|false|1|0|yes|no (any case), got ";
  return Add(name, "BOOL", help, Kind::kSwitch, [what, out](const std::string& v) {
    const std::optional<bool> b = ParseSwitchValue(v);
    if (!b) return what + Quoted(v);
    *out = *b;
    return std::string();
  });
}

std::string FlagTable::Apply(const Entry& e, const std::string& value) const {
  if (e.kind != Kind::kSwitch) {
    if (value.empty()) {
      return "--" + e.name + " was given an empty value; give " + e.value_name +
             " or leave the flag out";
    }
    // `--direction --dry-run` would otherwise take "--dry-run" as the label.
    if (value.rfind("--", 0) == 0) {
      const std::string other = value.substr(2, value.find('=') - 2);
      for (const Entry& x : entries_) {
        if (x.name == other) {
          return "--" + e.name + " is missing its value (the next argument is the flag " +
                 Quoted(value) + ")";
        }
      }
    }
  }
  return e.parse(value);
}

std::string FlagTable::Parse(const std::vector<std::string>& args) {
  // Boost refuses `--workers=` with a message of its own; give it the same
  // one line as `--workers ''`.
  for (const std::string& a : args) {
    if (a.size() > 3 && a.rfind("--", 0) == 0 && a.back() == '=') {
      for (const Entry& e : entries_) {
        if (a.compare(2, a.size() - 3, e.name) == 0 && e.name.size() == a.size() - 3) return Apply(e, "");
      }
    }
  }
  try {
    const po::parsed_options parsed =
        po::command_line_parser(args)
            .options(desc_)
            .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
            .run();
    // Boost lets a repeated switch through; a flag given twice is ambiguous
    // (which one wins?), so only List flags may repeat.
    std::map<std::string, int> seen;
    for (const po::option& opt : parsed.options) {
      // A word that is no flag's value: Boost drops it unless told of
      // positional arguments, so `ha-sync ... dry-run` would sync for real
      // and `--dest /srv/my dest` would lose " dest".
      if (opt.string_key.empty() || opt.position_key >= 0) {
        const std::string word = opt.original_tokens.empty() ? std::string() : opt.original_tokens.front();
        return "unexpected argument " + Quoted(word) + " (every value belongs to a --flag; quote a value with spaces)";
      }
      if (++seen[opt.string_key] != 2) continue;
      for (const Entry& e : entries_) {
        if (e.name == opt.string_key && e.kind != Kind::kList) {
          return "--" + e.name + " was given more than once";
        }
      }
    }
    po::store(parsed, vm_);
    po::notify(vm_);
  } catch (const po::error& e) {
    return e.what();
  }
  for (const Entry& e : entries_) {
    if (vm_.count(e.name) == 0) continue;
    std::vector<std::string> values;
    if (e.kind == Kind::kList) {
      values = vm_[e.name].as<std::vector<std::string>>();
    } else {
      values.push_back(vm_[e.name].as<std::string>());
    }
    for (const std::string& v : values) {
      if (std::string error = Apply(e, v); !error.empty()) return error;
    }
  }
  return "";
}

std::string FlagTable::Help() const {
  std::ostringstream out;
  out << desc_;
  return out.str();
}

}  // namespace ha_sync
