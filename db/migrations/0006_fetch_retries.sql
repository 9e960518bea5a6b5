ALTER TABLE `episodes` ADD `fetch_attempts` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `episodes` ADD `fetch_first_failed_at` integer;--> statement-breakpoint
ALTER TABLE `episodes` ADD `next_fetch_at` integer;--> statement-breakpoint
ALTER TABLE `episodes` ADD `fetch_error` text;--> statement-breakpoint
ALTER TABLE `feed_items` ADD `attempts` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `feed_items` ADD `last_error` text;