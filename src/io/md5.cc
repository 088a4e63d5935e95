#include "io/md5.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace ha_sync::io {

Md5::Md5() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL MD5 is unavailable");
  }
}

Md5::~Md5() { EVP_MD_CTX_free(ctx_); }

void Md5::Update(const void* data, size_t size) { EVP_DigestUpdate(ctx_, data, size); }

std::string Md5::FinishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, digest, &len);
  EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xF];
  }
  return out;
}

std::string Md5::OfString(std::string_view data) {
  Md5 md5;
  md5.Update(data.data(), data.size());
  return md5.FinishHex();
}

}  // namespace ha_sync::io
