#include "k8s/api_status.h"

#include <boost/json.hpp>

namespace ha_sync::k8s {

namespace json = boost::json;

namespace {

// Non-Status bodies go into messages: keep them short and on one line.
std::string ShortText(std::string_view body) {
  std::string out;
  for (char c : body) {
    if (out.size() >= 200) {
      out += "...";
      break;
    }
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string StringMember(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

ApiStatus ClassifyResponse(int http_code, std::string_view body) {
  ApiStatus st;
  st.code = http_code;
  json::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (!ec && parsed.is_object()) {
    const json::object& obj = parsed.as_object();
    if (StringMember(obj, "kind") == "Status") {
      st.has_status_body = true;
      st.reason = StringMember(obj, "reason");
      st.message = StringMember(obj, "message");
    }
  }
  if (!st.has_status_body) st.message = ShortText(body);

  if (http_code >= 200 && http_code < 300) {
    st.kind = ApiErrorKind::kNone;
  } else if (http_code == 400) {
    st.kind = ApiErrorKind::kBadRequest;
  } else if (http_code == 401) {
    st.kind = ApiErrorKind::kUnauthorized;
  } else if (http_code == 403) {
    st.kind = ApiErrorKind::kForbidden;
  } else if (http_code == 404) {
    st.kind = ApiErrorKind::kNotFound;
  } else if (http_code == 409) {
    st.kind = st.reason == "AlreadyExists" ? ApiErrorKind::kAlreadyExists : ApiErrorKind::kConflict;
  } else if (http_code == 415) {
    st.kind = ApiErrorKind::kUnsupportedMediaType;
  } else if (http_code == 422) {
    st.kind = ApiErrorKind::kInvalid;
  } else if (http_code == 429) {
    st.kind = ApiErrorKind::kTooManyRequests;
  } else if (http_code >= 500 && http_code < 600) {
    st.kind = ApiErrorKind::kServerError;
  } else {
    st.kind = ApiErrorKind::kOther;
  }
  return st;
}

const char* ToString(ApiErrorKind kind) {
  switch (kind) {
    case ApiErrorKind::kNone: return "OK";
    case ApiErrorKind::kBadRequest: return "BadRequest";
    case ApiErrorKind::kUnauthorized: return "Unauthorized";
    case ApiErrorKind::kForbidden: return "Forbidden";
    case ApiErrorKind::kNotFound: return "NotFound";
    case ApiErrorKind::kAlreadyExists: return "AlreadyExists";
    case ApiErrorKind::kConflict: return "Conflict";
    case ApiErrorKind::kUnsupportedMediaType: return "UnsupportedMediaType";
    case ApiErrorKind::kInvalid: return "Invalid";
    case ApiErrorKind::kTooManyRequests: return "TooManyRequests";
    case ApiErrorKind::kServerError: return "ServerError";
    case ApiErrorKind::kOther: return "Other";
  }
  return "Other";
}

std::string DescribeStatus(const ApiStatus& status) {
  std::string out = std::to_string(status.code) + " ";
  out += status.reason.empty() ? ToString(status.kind) : status.reason;
  if (!status.message.empty()) out += ": " + status.message;
  return out;
}

}  // namespace ha_sync::k8s
