/*
 * natsub.h — stethoscope-ctl's NATS commands (natsub.c): argv after the
 * command word; the exit status.
 */
#ifndef STH_NATSUB_H
#define STH_NATSUB_H

int natsub_subscribe(int argc, char **argv);
int natsub_calls(int argc, char **argv);

#endif
