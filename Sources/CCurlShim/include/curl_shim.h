#ifndef L2MET_CURL_SHIM_H
#define L2MET_CURL_SHIM_H
#include <curl/curl.h>

/* Non-variadic wrappers for the variadic libcurl calls, which Swift cannot call directly. */
CURLcode l2met_curl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode l2met_curl_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode l2met_curl_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode l2met_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
CURLcode l2met_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode l2met_curl_getinfo_double(CURL *handle, CURLINFO info, double *value);
/* Callbacks: CURLOPT_WRITEFUNCTION / CURLOPT_HEADERFUNCTION and CURLOPT_XFERINFOFUNCTION. */
CURLcode l2met_curl_setopt_write_callback(CURL *handle, CURLoption option, curl_write_callback callback);
CURLcode l2met_curl_setopt_xferinfo_callback(CURL *handle, curl_xferinfo_callback callback);
/* curl_global_init(CURL_GLOBAL_ALL): the macro does not reach Swift. */
CURLcode l2met_curl_global_init_all(void);

#endif
