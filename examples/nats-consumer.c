/*
 * nats-consumer.c — the smallest useful reader of what `sinkd nats`
 * publishes: every call summary of every sensor, printed, each
 * acknowledged only once it is printed.  Durable: stopped and started
 * again, it goes on after the last call it acknowledged.
 *
 *   cc -o nats-consumer nats-consumer.c -lnats
 *   ./nats-consumer nats://127.0.0.1:4222 [SUBJECT]     (default steth.*.call)
 *
 * The records are JSON (sensor, run, kind, seq and the call's fields);
 * a jump in seq from one sensor's run means its sink dropped records,
 * and its steth.<sensor>.loss record says which.
 */
#include <signal.h>
#include <stdio.h>
#include <nats/nats.h>

static volatile sig_atomic_t done;

static void
on_signal(int sig)
{
	(void)sig;
	done = 1;
}

int
main(int argc, char **argv)
{
	const char *url = argc > 1 ? argv[1] : NATS_DEFAULT_URL;
	const char *subject = argc > 2 ? argv[2] : "steth.*.call";
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	natsSubscription *sub = NULL;
	jsSubOptions so;
	natsStatus s;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	s = natsConnection_ConnectTo(&nc, url);
	if (s == NATS_OK)
		s = natsConnection_JetStream(&js, nc, NULL);
	if (s == NATS_OK) {
		jsSubOptions_Init(&so);
		so.Stream = "STETH";
		so.Config.AckPolicy = js_AckExplicit;
		s = js_PullSubscribe(&sub, js, subject, "example-calls", NULL, &so, NULL);
	}
	while (s == NATS_OK && !done) {
		natsMsgList list = { 0 };
		s = natsSubscription_Fetch(&list, sub, 64, 1000, NULL);
		if (s == NATS_TIMEOUT) {	/* nothing new for a second */
			s = NATS_OK;
			continue;
		}
		for (int i = 0; s == NATS_OK && i < list.Count; i++) {
			printf("%.*s\n", natsMsg_GetDataLength(list.Msgs[i]), natsMsg_GetData(list.Msgs[i]));
			if (fflush(stdout) == 0)
				s = natsMsg_Ack(list.Msgs[i], NULL);	/* printed: now it may go */
		}
		natsMsgList_Destroy(&list);
	}
	if (s != NATS_OK)
		fprintf(stderr, "nats-consumer: %s: %s\n", url, natsStatus_GetText(s));
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	return s == NATS_OK ? 0 : 1;
}
