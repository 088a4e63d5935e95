// Incremental MD5 over OpenSSL EVP. Hex output is 32 lowercase characters.
//
// Thread-safety: one object per thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace ha_sync::io {

class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;

  void Update(const void* data, size_t size);
  // Returns the digest and resets for reuse.
  std::string FinishHex();

  static std::string OfString(std::string_view data);

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace ha_sync::io
