// The flags of one program (or subcommand), declared once in a table and
// parsed with Boost.Program_options under rules every flag shares:
//   - a flag's parser runs only when the flag was given (vm.count), so "was
//     it given" never depends on the value being non-empty;
//   - no flag takes an empty value: `--workers ''` is an error, never
//     "use the default";
//   - a value that is another flag of the table (`--direction --dry-run`) is
//     an error: the value was forgotten;
//   - every switch takes `--flag`, `--flag=true|false|1|0|yes|no` (any case).
// Errors are one line naming the flag; callers turn them into exit 64.
//
// Thread-safety: one table per parse, one thread.
#pragma once

#include <boost/program_options.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ha_sync {

// Reads a switch value: true|false|1|0|yes|no, any case.
std::optional<bool> ParseSwitchValue(const std::string& text);

class FlagTable {
 public:
  // Checks a given, non-empty value and stores it; returns "" or the whole
  // error line (which names the flag).
  using Parser = std::function<std::string(const std::string& value)>;

  explicit FlagTable(const std::string& caption);

  // Any non-empty value, checked by `parse`.
  FlagTable& Value(const char* name, const char* value_name, const char* help, Parser parse);
  // Any non-empty text, stored as is.
  FlagTable& Text(const char* name, const char* value_name, const char* help, std::string* out);
  FlagTable& Text(const char* name, const char* value_name, const char* help,
                  std::optional<std::string>* out);
  // Repeatable; `parse` runs once per occurrence, in order.
  FlagTable& List(const char* name, const char* value_name, const char* help, Parser parse);
  // A whole number in [min, max]; `unit` (e.g. "seconds") goes into the error.
  FlagTable& Count(const char* name, const char* value_name, const char* help, int64_t min,
                   int64_t max, int64_t* out, const char* unit = nullptr);
  // A decimal number from 0 to max (digits and one '.').
  FlagTable& Decimal(const char* name, const char* value_name, const char* help, double max, double* out,
                     const char* unit = nullptr);
  // One of `allowed`.
  FlagTable& Choice(const char* name, const char* help, std::vector<std::string> allowed,
                    std::string* out);
  FlagTable& Switch(const char* name, const char* help, bool* out);

  // Parses `args` (without the program name) and runs the parser of every
  // given flag in table order. Returns "" or the first error line.
  std::string Parse(const std::vector<std::string>& args);
  bool Given(const std::string& name) const { return vm_.count(name) > 0; }
  std::string Help() const;

 private:
  enum class Kind { kValue, kList, kSwitch };
  struct Entry {
    std::string name;
    std::string value_name;
    Kind kind;
    Parser parse;
  };
  FlagTable& Add(const char* name, const std::string& value_name, const char* help, Kind kind,
                 Parser parse);
  std::string Apply(const Entry& e, const std::string& value) const;

  boost::program_options::options_description desc_;
  std::vector<Entry> entries_;
  boost::program_options::variables_map vm_;
};

// Whole number in [min, max] from decimal digits only; false otherwise.
bool ParseCount(const std::string& text, int64_t min, int64_t max, int64_t* out);
// Decimal number >= 0 from digits and '.' only; false otherwise.
bool ParseNonNegativeDecimal(const std::string& text, double* out);

}  // namespace ha_sync
