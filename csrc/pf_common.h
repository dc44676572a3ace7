#ifndef PF_COMMON_H
#define PF_COMMON_H
#endif
