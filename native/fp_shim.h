/* SPDX-License-Identifier: MIT */
/*
 * fp_shim: the thin C layer between FastPath (C#) and DPDK.
 *
 * Only what DPDK defines as static inline (rx/tx burst, mbuf field access, bulk free, TSC) or what
 * must run in C (EAL start-up with the caller's affinity preserved) lives here. Every export is
 * fp_-prefixed, uses fixed-width types and returns 0 / a count on success or -errno on failure.
 */
#ifndef FP_SHIM_H
#define FP_SHIM_H

#include <stdint.h>

/* Bumped whenever a signature or struct below changes; the managed side refuses to start on a mismatch. */
#define FP_SHIM_ABI_VERSION 3u

/* Set in an rx length when the mbuf is chained: the managed side sees only the first segment. */
#define FP_LEN_MULTI_SEGMENT 0x80000000u

#define FP_PORT_FLAG_RSS 1u     /* spread flows over the rx queues with a symmetric RSS key */
#define FP_PORT_FLAG_PROMISC 2u /* receive frames for any destination MAC (bump-in-the-wire) */
#define FP_PORT_FLAG_RSS_L3_SRC_ONLY 4u /* with FP_PORT_FLAG_RSS: hash only the source address (-ENOTSUP if the device cannot) */
#define FP_PORT_FLAG_RSS_L3_DST_ONLY 8u /* with FP_PORT_FLAG_RSS: hash only the destination address (-ENOTSUP likewise) */

struct fp_port_info {
	uint16_t max_rx_queues;
	uint16_t max_tx_queues;
	uint32_t rss_offloads_low; /* non-zero when the device can hash flows onto queues */
	int32_t socket_id;
	char name[64];
	char driver[32];
};

struct fp_port_stats {
	uint64_t ipackets;
	uint64_t opackets;
	uint64_t ibytes;
	uint64_t obytes;
	uint64_t imissed;
	uint64_t ierrors;
	uint64_t oerrors;
	uint64_t rx_nombuf;
};

uint32_t fp_abi_version(void);

int fp_eal_init(int argc, char **argv);

uint16_t fp_port_count(void);
int fp_port_by_name(const char *name, uint16_t *port_id);
int fp_port_info(uint16_t port_id, struct fp_port_info *info);
int fp_port_setup(uint16_t port_id, uint16_t rx_queues, uint16_t tx_queues, uint16_t rx_desc,
		  uint16_t tx_desc, void *mempool, uint32_t flags);
/* Fills the device's RSS redirection table by repeating queues[0..entries) over it; -ENOTSUP when the
 * device has no table or one whose size is not a multiple of entries. */
int fp_port_rss_redirect(uint16_t port_id, const uint16_t *queues, uint16_t entries);
int fp_port_start(uint16_t port_id);
int fp_port_stop(uint16_t port_id);
int fp_port_close(uint16_t port_id);
int fp_port_stats(uint16_t port_id, struct fp_port_stats *stats);

void *fp_mempool_create(const char *name, uint32_t mbufs, uint32_t cache, uint16_t data_room, int32_t socket_id);
void fp_mempool_free(void *mempool);

/* One call per burst: fills the mbuf handles, the data pointers and the lengths of the frames. */
uint16_t fp_rx_burst(uint16_t port_id, uint16_t queue, void **mbufs, uint8_t **data, uint32_t *lengths,
		     uint16_t count);
uint16_t fp_tx_burst(uint16_t port_id, uint16_t queue, void **mbufs, uint16_t count);
void fp_free_bulk(void **mbufs, uint32_t count);

/* Allocates count mbufs and copies one frame into each (test and benchmark traffic generators). */
int fp_mbuf_alloc_copy(void *mempool, void **mbufs, const uint8_t *const *frames, const uint32_t *lengths,
		       uint32_t count);

int fp_thread_register(void);
void fp_thread_unregister(void);

uint64_t fp_tsc(void);
uint64_t fp_tsc_hz(void);

#endif
