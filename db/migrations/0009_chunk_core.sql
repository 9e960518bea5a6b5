ALTER TABLE `chunks` ADD `core_start_sample` integer;--> statement-breakpoint
ALTER TABLE `chunks` ADD `core_end_sample` integer;