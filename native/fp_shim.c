/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "fp_shim.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

/* A key made of one repeated 16-bit pattern hashes (a,b) and (b,a) alike, so both directions of a
 * connection reach the same queue (Woo & Park, "Scalable TCP Session Monitoring with Symmetric RSS"). */
static uint8_t symmetric_rss_key[40] = {
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

uint32_t fp_abi_version(void)
{
	return FP_SHIM_ABI_VERSION;
}

int fp_eal_init(int argc, char **argv)
{
	/* rte_eal_init pins the calling thread to the main lcore, and every thread the runtime starts later
	 * would inherit that mask. Workers pin themselves; everything else keeps the process's mask. */
	cpu_set_t saved;
	int have_saved = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
	int ret = rte_eal_init(argc, argv);
	if (ret < 0)
		return rte_errno > 0 ? -rte_errno : -EINVAL;
	if (have_saved)
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	return ret;
}

uint16_t fp_port_count(void)
{
	return rte_eth_dev_count_avail();
}

int fp_port_by_name(const char *name, uint16_t *port_id)
{
	return rte_eth_dev_get_port_by_name(name, port_id);
}

int fp_port_info(uint16_t port_id, struct fp_port_info *info)
{
	struct rte_eth_dev_info dev_info;
	int ret = rte_eth_dev_info_get(port_id, &dev_info);
	if (ret != 0)
		return ret;
	memset(info, 0, sizeof(*info));
	info->max_rx_queues = dev_info.max_rx_queues;
	info->max_tx_queues = dev_info.max_tx_queues;
	info->rss_offloads_low = (uint32_t)(dev_info.flow_type_rss_offloads & 0xffffffffu);
	info->socket_id = rte_eth_dev_socket_id(port_id);
	rte_eth_dev_get_name_by_port(port_id, info->name);
	if (dev_info.driver_name != NULL)
		strncpy(info->driver, dev_info.driver_name, sizeof(info->driver) - 1);
	return 0;
}

int fp_port_setup(uint16_t port_id, uint16_t rx_queues, uint16_t tx_queues, uint16_t rx_desc,
		  uint16_t tx_desc, void *mempool, uint32_t flags)
{
	struct rte_eth_dev_info dev_info;
	struct rte_eth_conf conf;
	int ret = rte_eth_dev_info_get(port_id, &dev_info);
	if (ret != 0)
		return ret;
	if (rx_queues > dev_info.max_rx_queues || tx_queues > dev_info.max_tx_queues)
		return -EINVAL;

	memset(&conf, 0, sizeof(conf));
	uint64_t rss_hf = dev_info.flow_type_rss_offloads &
			  (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_SCTP);
	uint64_t only = (flags & FP_PORT_FLAG_RSS_L3_SRC_ONLY ? RTE_ETH_RSS_L3_SRC_ONLY : 0) |
			(flags & FP_PORT_FLAG_RSS_L3_DST_ONLY ? RTE_ETH_RSS_L3_DST_ONLY : 0);
	if ((dev_info.flow_type_rss_offloads & only) != only)
		return -ENOTSUP;
	if ((flags & FP_PORT_FLAG_RSS) && rx_queues > 1 && rss_hf != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = symmetric_rss_key;
		conf.rx_adv_conf.rss_conf.rss_key_len = sizeof(symmetric_rss_key);
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf | only;
	}
	ret = rte_eth_dev_configure(port_id, rx_queues, tx_queues, &conf);
	if (ret != 0)
		return ret;
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_desc, &tx_desc);
	if (ret != 0)
		return ret;
	int socket = rte_eth_dev_socket_id(port_id);
	for (uint16_t q = 0; q < rx_queues; q++) {
		ret = rte_eth_rx_queue_setup(port_id, q, rx_desc, socket, NULL, (struct rte_mempool *)mempool);
		if (ret != 0)
			return ret;
	}
	for (uint16_t q = 0; q < tx_queues; q++) {
		ret = rte_eth_tx_queue_setup(port_id, q, tx_desc, socket, NULL);
		if (ret != 0)
			return ret;
	}
	if (flags & FP_PORT_FLAG_PROMISC) {
		ret = rte_eth_promiscuous_enable(port_id);
		if (ret != 0 && ret != -ENOTSUP)
			return ret;
	}
	return 0;
}

int fp_port_rss_redirect(uint16_t port_id, const uint16_t *queues, uint16_t entries)
{
	struct rte_eth_dev_info dev_info;
	int ret = rte_eth_dev_info_get(port_id, &dev_info);
	if (ret != 0)
		return ret;
	uint16_t size = dev_info.reta_size;
	if (entries == 0 || size == 0 || size % entries != 0 || size % RTE_ETH_RETA_GROUP_SIZE != 0)
		return -ENOTSUP;
	struct rte_eth_rss_reta_entry64 *conf = calloc(size / RTE_ETH_RETA_GROUP_SIZE, sizeof(*conf));
	if (conf == NULL)
		return -ENOMEM;
	for (uint16_t i = 0; i < size; i++) {
		struct rte_eth_rss_reta_entry64 *group = &conf[i / RTE_ETH_RETA_GROUP_SIZE];
		group->mask = UINT64_MAX;
		group->reta[i % RTE_ETH_RETA_GROUP_SIZE] = queues[i % entries];
	}
	ret = rte_eth_dev_rss_reta_update(port_id, conf, size);
	free(conf);
	return ret;
}

int fp_port_start(uint16_t port_id)
{
	return rte_eth_dev_start(port_id);
}

int fp_port_stop(uint16_t port_id)
{
	return rte_eth_dev_stop(port_id);
}

int fp_port_close(uint16_t port_id)
{
	return rte_eth_dev_close(port_id);
}

int fp_port_stats(uint16_t port_id, struct fp_port_stats *stats)
{
	struct rte_eth_stats s;
	int ret = rte_eth_stats_get(port_id, &s);
	if (ret != 0)
		return ret;
	stats->ipackets = s.ipackets;
	stats->opackets = s.opackets;
	stats->ibytes = s.ibytes;
	stats->obytes = s.obytes;
	stats->imissed = s.imissed;
	stats->ierrors = s.ierrors;
	stats->oerrors = s.oerrors;
	stats->rx_nombuf = s.rx_nombuf;
	return 0;
}

void *fp_mempool_create(const char *name, uint32_t mbufs, uint32_t cache, uint16_t data_room, int32_t socket_id)
{
	struct rte_mempool *mp = rte_pktmbuf_pool_create(name, mbufs, cache, 0, data_room, socket_id);
	return mp;
}

void fp_mempool_free(void *mempool)
{
	rte_mempool_free((struct rte_mempool *)mempool);
}

uint16_t fp_rx_burst(uint16_t port_id, uint16_t queue, void **mbufs, uint8_t **data, uint32_t *lengths,
		     uint16_t count)
{
	struct rte_mbuf **pkts = (struct rte_mbuf **)mbufs;
	uint16_t n = rte_eth_rx_burst(port_id, queue, pkts, count);
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		data[i] = rte_pktmbuf_mtod(m, uint8_t *);
		lengths[i] = m->data_len | (m->nb_segs > 1 ? FP_LEN_MULTI_SEGMENT : 0u);
	}
	return n;
}

uint16_t fp_tx_burst(uint16_t port_id, uint16_t queue, void **mbufs, uint16_t count)
{
	return rte_eth_tx_burst(port_id, queue, (struct rte_mbuf **)mbufs, count);
}

void fp_free_bulk(void **mbufs, uint32_t count)
{
	rte_pktmbuf_free_bulk((struct rte_mbuf **)mbufs, count);
}

int fp_mbuf_alloc_copy(void *mempool, void **mbufs, const uint8_t *const *frames, const uint32_t *lengths,
		       uint32_t count)
{
	struct rte_mbuf **pkts = (struct rte_mbuf **)mbufs;
	if (rte_pktmbuf_alloc_bulk((struct rte_mempool *)mempool, pkts, count) != 0)
		return -ENOBUFS;
	for (uint32_t i = 0; i < count; i++) {
		char *dst = rte_pktmbuf_append(pkts[i], (uint16_t)lengths[i]);
		if (dst == NULL || lengths[i] > UINT16_MAX) {
			rte_pktmbuf_free_bulk(pkts, count);
			return -EMSGSIZE;
		}
		memcpy(dst, frames[i], lengths[i]);
	}
	return (int)count;
}

int fp_thread_register(void)
{
	if (rte_thread_register() != 0)
		return rte_errno > 0 ? -rte_errno : -EINVAL;
	return (int)rte_lcore_id();
}

void fp_thread_unregister(void)
{
	rte_thread_unregister();
}

uint64_t fp_tsc(void)
{
	return rte_rdtsc();
}

uint64_t fp_tsc_hz(void)
{
	return rte_get_tsc_hz();
}
