ALTER TABLE `episodes` ADD `final_url` text;--> statement-breakpoint
ALTER TABLE `episodes` ADD `audio_bytes` integer;--> statement-breakpoint
ALTER TABLE `episodes` ADD `audio_sha256` text;--> statement-breakpoint
ALTER TABLE `episodes` ADD `audio_content_type` text;