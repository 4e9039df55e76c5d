// HDF5 module
