// HDF5's type and property-list "constants" are macros that call H5open() and read a global;
// Swift cannot import them, so each is wrapped in an inline function here. Nothing else.
#ifndef KD_CHDF5_SHIM_H
#define KD_CHDF5_SHIM_H
#include <hdf5.h>

static inline hid_t kd_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t kd_H5S_ALL(void) { return H5S_ALL; }
static inline hid_t kd_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline hid_t kd_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t kd_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }

static inline hid_t kd_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t kd_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t kd_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t kd_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t kd_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t kd_H5T_C_S1(void) { return H5T_C_S1; }

static inline unsigned kd_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned kd_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline unsigned kd_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned kd_H5F_ACC_EXCL(void) { return H5F_ACC_EXCL; }

static inline hid_t kd_H5E_DEFAULT(void) { return H5E_DEFAULT; }
static inline size_t kd_H5T_VARIABLE(void) { return H5T_VARIABLE; }
static inline hsize_t kd_H5S_UNLIMITED(void) { return H5S_UNLIMITED; }
static inline haddr_t kd_HADDR_UNDEF(void) { return HADDR_UNDEF; }

#endif
