#include "http/prometheus_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "ha_sync/text.h"

namespace ha_sync::http {

std::string EscapeLabelValue(const std::string& value) {
  // Label values must be UTF-8: anything else is shown escaped.
  const std::string text = IsValidUtf8(value) ? value : EscapeForDisplay(value);
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void PrometheusText::Family(const std::string& name, const char* type, const std::string& help) {
  std::string escaped_help;
  for (char c : help) {
    if (c == '\\') escaped_help += "\\\\";
    else if (c == '\n') escaped_help += "\\n";
    else escaped_help += c;
  }
  out_ += "# HELP " + name + " " + escaped_help + "\n# TYPE " + name + " " + type + "\n";
}

void PrometheusText::Sample(const std::string& name, const Labels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + "\"";
    }
    out_ += '}';
  }
  char buf[64];
  if (std::isnan(value)) {
    std::snprintf(buf, sizeof buf, "NaN");
  } else if (std::isinf(value)) {
    std::snprintf(buf, sizeof buf, value > 0 ? "+Inf" : "-Inf");
  } else if (value == std::floor(value) && std::fabs(value) < 9.007199254740992e15) {
    std::snprintf(buf, sizeof buf, "%.0f", value);
  } else {
    // The shortest text that parses back to the same double.
    for (int precision = 15; precision <= 17; ++precision) {
      std::snprintf(buf, sizeof buf, "%.*g", precision, value);
      if (std::strtod(buf, nullptr) == value) break;
    }
  }
  out_ += ' ';
  out_ += buf;
  out_ += '\n';
}

}  // namespace ha_sync::http
