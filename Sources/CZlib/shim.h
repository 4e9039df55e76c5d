// zlib (Debian: zlib1g-dev). inflateInit2 is a macro; wrapped so Swift can call it.
#ifndef KD_CZLIB_SHIM_H
#define KD_CZLIB_SHIM_H
#include <zlib.h>
static inline int kd_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}
static inline int kd_deflateInit2(z_streamp strm, int level, int windowBits) {
    return deflateInit2(strm, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
#endif
