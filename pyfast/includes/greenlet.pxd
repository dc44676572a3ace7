# greenlet.h: greenlet's C API (in the installed greenlet package; its
# directory is on pyfast._coop's include path only, see CMakeLists.txt, so
# only _coop may cimport this file).  The functions are macros
# over a table that PyGreenlet_Import() fills (NULL if it failed).  Their
# PyGreenlet * results are cast to PyObject * in the cnames, so that Cython
# handles them as new references.
from cpython.object cimport PyObject

cdef extern from "greenlet.h":
    ctypedef struct PyGreenlet:
        pass
    void **_PyGreenlet_API
    void PyGreenlet_Import()
    object PyGreenlet_GetCurrent_obj "(PyObject *)PyGreenlet_GetCurrent"()
    object PyGreenlet_New_obj "(PyObject *)PyGreenlet_New"(object run, PyGreenlet *parent)
    # g.switch(*args, **kwargs); args NULL: no arguments.
    object PyGreenlet_Switch(PyGreenlet *g, PyObject *args, PyObject *kwargs)
