// OpenBLAS's CBLAS interface (Debian: libopenblas-dev), including openblas_set_num_threads.
#ifndef KD_CBLAS_SHIM_H
#define KD_CBLAS_SHIM_H
#include <cblas.h>
#endif
