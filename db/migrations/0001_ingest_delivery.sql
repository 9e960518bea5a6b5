CREATE TABLE `deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`episode_id` text NOT NULL,
	`event` text NOT NULL,
	`url` text NOT NULL,
	`state` text NOT NULL,
	`payload` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer,
	`created_at` integer NOT NULL,
	`delivered_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_episode_event_idx` ON `deliveries` (`episode_id`,`event`);--> statement-breakpoint
CREATE INDEX `deliveries_due_idx` ON `deliveries` (`state`,`next_attempt_at`);--> statement-breakpoint
CREATE TABLE `delivery_attempts` (
	`delivery_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`at` integer NOT NULL,
	`http_status` integer,
	`error` text,
	`duration_ms` integer NOT NULL,
	FOREIGN KEY (`delivery_id`) REFERENCES `deliveries`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `delivery_attempts_pk` ON `delivery_attempts` (`delivery_id`,`attempt`);--> statement-breakpoint
CREATE TABLE `episode_links` (
	`episode_id` text PRIMARY KEY NOT NULL,
	`identity` text,
	`feed_id` text,
	`source_id` text,
	`guid` text,
	`origin` text NOT NULL,
	`callback_url` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `episode_links_identity_idx` ON `episode_links` (`identity`);--> statement-breakpoint
CREATE TABLE `feed_items` (
	`id` text PRIMARY KEY NOT NULL,
	`feed_id` text NOT NULL,
	`identity` text NOT NULL,
	`guid` text,
	`enclosure_url` text,
	`title` text,
	`published_at` integer,
	`kind` text NOT NULL,
	`state` text NOT NULL,
	`reason` text,
	`episode_id` text,
	`discovered_at` integer NOT NULL,
	FOREIGN KEY (`feed_id`) REFERENCES `feeds`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `feed_items_identity_idx` ON `feed_items` (`feed_id`,`identity`);--> statement-breakpoint
CREATE INDEX `feed_items_state_idx` ON `feed_items` (`state`);--> statement-breakpoint
CREATE TABLE `feeds` (
	`id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`title` text,
	`interval_sec` integer NOT NULL,
	`backfill` integer DEFAULT 0 NOT NULL,
	`retranscribe` integer DEFAULT false NOT NULL,
	`callback_url` text,
	`etag` text,
	`last_modified` text,
	`added_at` integer NOT NULL,
	`baseline_at` integer,
	`last_polled_at` integer,
	`last_status` text,
	`last_error` text,
	`error_count` integer DEFAULT 0 NOT NULL,
	`next_poll_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `feeds_url_idx` ON `feeds` (`url`);--> statement-breakpoint
CREATE INDEX `feeds_next_poll_idx` ON `feeds` (`next_poll_at`);--> statement-breakpoint
CREATE TABLE `sources` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`token` text NOT NULL,
	`scheme` text NOT NULL,
	`secret` text,
	`feed_url` text,
	`callback_url` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sources_token_idx` ON `sources` (`token`);--> statement-breakpoint
CREATE UNIQUE INDEX `sources_name_idx` ON `sources` (`name`);--> statement-breakpoint
CREATE TABLE `webhook_receipts` (
	`source_id` text NOT NULL,
	`delivery_id` text NOT NULL,
	`episode_id` text,
	`outcome` text NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `webhook_receipts_pk` ON `webhook_receipts` (`source_id`,`delivery_id`);