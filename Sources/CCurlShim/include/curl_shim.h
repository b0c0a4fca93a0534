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

#endif
