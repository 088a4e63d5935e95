// Prometheus text exposition format (version 0.0.4): one "# HELP" and
// "# TYPE" per metric family, then its samples. Label values are escaped
// (\\, \" and \n); values are printed so that Prometheus parses them back
// exactly (integers as integers, others as the shortest text that parses back to
// the same double).
//
// Thread-safety: one writer per thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ha_sync::http {

// The Content-Type of a /metrics answer.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

using Labels = std::vector<std::pair<std::string, std::string>>;

class PrometheusText {
 public:
  // Starts a family; `type` is "gauge" or "counter".
  void Family(const std::string& name, const char* type, const std::string& help);
  void Sample(const std::string& name, const Labels& labels, double value);
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

std::string EscapeLabelValue(const std::string& value);

}  // namespace ha_sync::http
