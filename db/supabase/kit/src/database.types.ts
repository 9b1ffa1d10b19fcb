export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[]

export type Database = {
  public: {
    Tables: {
      api_quota_tracking: {
        Row: {
          api_provider: string
          created_at: string
          id: string
          is_rate_limited: boolean
          model: string
          quota_limit: number
          quota_remaining: number | null
          quota_type: string
          quota_used: number
          rate_limit_reset_at: string | null
          time_window: string
          updated_at: string
        }
        Insert: {
          api_provider: string
          created_at?: string
          id?: string
          is_rate_limited?: boolean
          model: string
          quota_limit: number
          quota_remaining?: never
          quota_type: string
          quota_used?: number
          rate_limit_reset_at?: string | null
          time_window: string
          updated_at?: string
        }
        Update: {
          api_provider?: string
          created_at?: string
          id?: string
          is_rate_limited?: boolean
          model?: string
          quota_limit?: number
          quota_remaining?: never
          quota_type?: string
          quota_used?: number
          rate_limit_reset_at?: string | null
          time_window?: string
          updated_at?: string
        }
        Relationships: []
      }
      batch_quota_limits: {
        Row: {
          limits_read_on: string
          max_concurrent_jobs: number
          max_enqueued_tokens: number
          model: string
          provider: string
          updated_at: string
        }
        Insert: {
          limits_read_on: string
          max_concurrent_jobs?: number
          max_enqueued_tokens: number
          model: string
          provider: string
          updated_at?: string
        }
        Update: {
          limits_read_on?: string
          max_concurrent_jobs?: number
          max_enqueued_tokens?: number
          model?: string
          provider?: string
          updated_at?: string
        }
        Relationships: []
      }
      batch_upload_files: {
        Row: {
          api_calls_made: number
          batch_session_id: string
          content_sha256: string | null
          created_at: string
          delivery: string | null
          duplicate_of: string | null
          error_message: string | null
          error_type: string | null
          file_size_bytes: number | null
          file_type: string | null
          id: string
          input_tokens: number | null
          max_attempts: number
          model: string | null
          original_filename: string
          output_tokens: number | null
          processing_completed_at: string | null
          processing_duration_ms: number | null
          processing_started_at: string | null
          rate_limited: boolean
          receipt_id: string | null
          result: Json | null
          source_url: string | null
          status: string
          storage_bucket: string | null
          storage_path: string | null
          thinking_tokens: number | null
          tokens_used: number
          updated_at: string
          upload_order: number | null
        }
        Insert: {
          api_calls_made?: number
          batch_session_id: string
          content_sha256?: string | null
          created_at?: string
          delivery?: string | null
          duplicate_of?: string | null
          error_message?: string | null
          error_type?: string | null
          file_size_bytes?: number | null
          file_type?: string | null
          id?: string
          input_tokens?: number | null
          max_attempts?: number
          model?: string | null
          original_filename: string
          output_tokens?: number | null
          processing_completed_at?: string | null
          processing_duration_ms?: number | null
          processing_started_at?: string | null
          rate_limited?: boolean
          receipt_id?: string | null
          result?: Json | null
          source_url?: string | null
          status?: string
          storage_bucket?: string | null
          storage_path?: string | null
          thinking_tokens?: number | null
          tokens_used?: number
          updated_at?: string
          upload_order?: number | null
        }
        Update: {
          api_calls_made?: number
          batch_session_id?: string
          content_sha256?: string | null
          created_at?: string
          delivery?: string | null
          duplicate_of?: string | null
          error_message?: string | null
          error_type?: string | null
          file_size_bytes?: number | null
          file_type?: string | null
          id?: string
          input_tokens?: number | null
          max_attempts?: number
          model?: string | null
          original_filename?: string
          output_tokens?: number | null
          processing_completed_at?: string | null
          processing_duration_ms?: number | null
          processing_started_at?: string | null
          rate_limited?: boolean
          receipt_id?: string | null
          result?: Json | null
          source_url?: string | null
          status?: string
          storage_bucket?: string | null
          storage_path?: string | null
          thinking_tokens?: number | null
          tokens_used?: number
          updated_at?: string
          upload_order?: number | null
        }
        Relationships: [
          {
            foreignKeyName: "batch_upload_files_batch_session_id_fkey"
            columns: ["batch_session_id"]
            isOneToOne: false
            referencedRelation: "batch_upload_sessions"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "batch_upload_files_duplicate_of_fkey"
            columns: ["duplicate_of"]
            isOneToOne: false
            referencedRelation: "batch_upload_files"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "batch_upload_files_receipt_id_fkey"
            columns: ["receipt_id"]
            isOneToOne: false
            referencedRelation: "receipts"
            referencedColumns: ["id"]
          },
        ]
      }
      batch_upload_sessions: {
        Row: {
          avg_file_processing_time_ms: number | null
          completed_at: string | null
          created_at: string
          delivery: string
          error_message: string | null
          estimated_completion_at: string | null
          files_completed: number
          files_failed: number
          files_pending: number
          files_processing: number
          files_skipped: number
          files_uploading: number
          id: string
          interactive_fallback: boolean
          last_error_at: string | null
          max_concurrent: number
          model: string
          processing_strategy: string
          provider: string
          rate_limit_config: NonNullable<Json>
          rate_limit_hits: number
          session_name: string | null
          started_at: string | null
          status: string
          team_id: string | null
          total_api_calls: number
          total_files: number
          total_processing_time_ms: number
          total_thinking_tokens: number
          total_tokens_used: number
          updated_at: string
          user_id: string | null
        }
        Insert: {
          avg_file_processing_time_ms?: number | null
          completed_at?: string | null
          created_at?: string
          delivery?: string
          error_message?: string | null
          estimated_completion_at?: string | null
          files_completed?: number
          files_failed?: number
          files_pending?: number
          files_processing?: number
          files_skipped?: number
          files_uploading?: number
          id?: string
          interactive_fallback?: boolean
          last_error_at?: string | null
          max_concurrent?: number
          model?: string
          processing_strategy?: string
          provider?: string
          rate_limit_config?: NonNullable<Json>
          rate_limit_hits?: number
          session_name?: string | null
          started_at?: string | null
          status?: string
          team_id?: string | null
          total_api_calls?: number
          total_files: number
          total_processing_time_ms?: number
          total_thinking_tokens?: number
          total_tokens_used?: number
          updated_at?: string
          user_id?: string | null
        }
        Update: {
          avg_file_processing_time_ms?: number | null
          completed_at?: string | null
          created_at?: string
          delivery?: string
          error_message?: string | null
          estimated_completion_at?: string | null
          files_completed?: number
          files_failed?: number
          files_pending?: number
          files_processing?: number
          files_skipped?: number
          files_uploading?: number
          id?: string
          interactive_fallback?: boolean
          last_error_at?: string | null
          max_concurrent?: number
          model?: string
          processing_strategy?: string
          provider?: string
          rate_limit_config?: NonNullable<Json>
          rate_limit_hits?: number
          session_name?: string | null
          started_at?: string | null
          status?: string
          team_id?: string | null
          total_api_calls?: number
          total_files?: number
          total_processing_time_ms?: number
          total_thinking_tokens?: number
          total_tokens_used?: number
          updated_at?: string
          user_id?: string | null
        }
        Relationships: [
          {
            foreignKeyName: "batch_upload_sessions_team_id_fkey"
            columns: ["team_id"]
            isOneToOne: false
            referencedRelation: "teams"
            referencedColumns: ["id"]
          },
        ]
      }
      batchpilot_adaptive_factor_changes: {
        Row: {
          adaptive_factor: number
          adaptive_increase: number
          changed_at: string
          model: string
          provider: string
          window_ms: number
        }
        Insert: {
          adaptive_factor: number
          adaptive_increase: number
          changed_at: string
          model: string
          provider: string
          window_ms: number
        }
        Update: {
          adaptive_factor?: number
          adaptive_increase?: number
          changed_at?: string
          model?: string
          provider?: string
          window_ms?: number
        }
        Relationships: []
      }
      batchpilot_leader: {
        Row: {
          elected_at: string
          expires_at: string
          leader_id: string
          name: string
        }
        Insert: {
          elected_at: string
          expires_at: string
          leader_id: string
          name: string
        }
        Update: {
          elected_at?: string
          expires_at?: string
          leader_id?: string
          name?: string
        }
        Relationships: []
      }
      batchpilot_metric_snapshots: {
        Row: {
          count: number | null
          delta: number | null
          kind: string
          max: number | null
          mean: number | null
          name: string
          p50: number | null
          p95: number | null
          p99: number | null
          rate_1m: number | null
          tags: NonNullable<Json>
          taken_at: string
          value: number | null
          worker_id: string
        }
        Insert: {
          count?: number | null
          delta?: number | null
          kind: string
          max?: number | null
          mean?: number | null
          name: string
          p50?: number | null
          p95?: number | null
          p99?: number | null
          rate_1m?: number | null
          tags?: NonNullable<Json>
          taken_at?: string
          value?: number | null
          worker_id: string
        }
        Update: {
          count?: number | null
          delta?: number | null
          kind?: string
          max?: number | null
          mean?: number | null
          name?: string
          p50?: number | null
          p95?: number | null
          p99?: number | null
          rate_1m?: number | null
          tags?: NonNullable<Json>
          taken_at?: string
          value?: number | null
          worker_id?: string
        }
        Relationships: []
      }
      batchpilot_model_prices: {
        Row: {
          batch_input_usd_per_million: number
          batch_output_usd_per_million: number
          input_usd_per_million: number
          model: string
          output_usd_per_million: number
          prices_read_on: string
          source: string | null
          updated_at: string
        }
        Insert: {
          batch_input_usd_per_million: number
          batch_output_usd_per_million: number
          input_usd_per_million: number
          model: string
          output_usd_per_million: number
          prices_read_on: string
          source?: string | null
          updated_at?: string
        }
        Update: {
          batch_input_usd_per_million?: number
          batch_output_usd_per_million?: number
          input_usd_per_million?: number
          model?: string
          output_usd_per_million?: number
          prices_read_on?: string
          source?: string | null
          updated_at?: string
        }
        Relationships: []
      }
      batchpilot_usage_per_minute: {
        Row: {
          api_calls: number
          delivery: string
          files_completed: number
          files_failed: number
          files_retried: number
          files_skipped: number
          input_tokens: number
          minute: string
          model: string
          output_tokens: number
          processing_ms: number
          shard: number
          team_id: string | null
          thinking_tokens: number
          user_id: string | null
        }
        Insert: {
          api_calls?: number
          delivery?: string
          files_completed?: number
          files_failed?: number
          files_retried?: number
          files_skipped?: number
          input_tokens?: number
          minute: string
          model: string
          output_tokens?: number
          processing_ms?: number
          shard: number
          team_id?: string | null
          thinking_tokens?: number
          user_id?: string | null
        }
        Update: {
          api_calls?: number
          delivery?: string
          files_completed?: number
          files_failed?: number
          files_retried?: number
          files_skipped?: number
          input_tokens?: number
          minute?: string
          model?: string
          output_tokens?: number
          processing_ms?: number
          shard?: number
          team_id?: string | null
          thinking_tokens?: number
          user_id?: string | null
        }
        Relationships: []
      }
      batchpilot_worker_heartbeats: {
        Row: {
          host: string
          in_flight: number
          last_seen_at: string
          started_at: string
          stopped_at: string | null
          version: string
          worker_id: string
        }
        Insert: {
          host: string
          in_flight?: number
          last_seen_at?: string
          started_at?: string
          stopped_at?: string | null
          version: string
          worker_id: string
        }
        Update: {
          host?: string
          in_flight?: number
          last_seen_at?: string
          started_at?: string
          stopped_at?: string | null
          version?: string
          worker_id?: string
        }
        Relationships: []
      }
      quota_limits: {
        Row: {
          adaptive_changed_at: string
          adaptive_decrease: number
          adaptive_factor: number
          adaptive_increase: number
          adaptive_min: number
          blocked_quota_id: string | null
          blocked_until: string | null
          bucket_input_tokens: number
          bucket_requests: number
          buckets_per_window: number
          created_at: string
          day: string | null
          input_tokens_per_minute: number
          last_grant_at: string | null
          max_in_flight: number
          model: string
          parked_until: string | null
          permit_lease_ms: number
          permits_granted: number
          provider: string
          requests_per_day: number | null
          requests_per_minute: number
          requests_today: number
          ring_bucket: number | null
          ring_since: string | null
          ring_slots: number | null
          ring_width_ms: number | null
          safety_margin_ms: number
          updated_at: string
          window_input_tokens: number
          window_ms: number
          window_requests: number
        }
        Insert: {
          adaptive_changed_at?: string
          adaptive_decrease?: number
          adaptive_factor?: number
          adaptive_increase?: number
          adaptive_min?: number
          blocked_quota_id?: string | null
          blocked_until?: string | null
          bucket_input_tokens?: number
          bucket_requests?: number
          buckets_per_window?: number
          created_at?: string
          day?: string | null
          input_tokens_per_minute: number
          last_grant_at?: string | null
          max_in_flight?: number
          model: string
          parked_until?: string | null
          permit_lease_ms?: number
          permits_granted?: number
          provider: string
          requests_per_day?: number | null
          requests_per_minute: number
          requests_today?: number
          ring_bucket?: number | null
          ring_since?: string | null
          ring_slots?: number | null
          ring_width_ms?: number | null
          safety_margin_ms?: number
          updated_at?: string
          window_input_tokens?: number
          window_ms?: number
          window_requests?: number
        }
        Update: {
          adaptive_changed_at?: string
          adaptive_decrease?: number
          adaptive_factor?: number
          adaptive_increase?: number
          adaptive_min?: number
          blocked_quota_id?: string | null
          blocked_until?: string | null
          bucket_input_tokens?: number
          bucket_requests?: number
          buckets_per_window?: number
          created_at?: string
          day?: string | null
          input_tokens_per_minute?: number
          last_grant_at?: string | null
          max_in_flight?: number
          model?: string
          parked_until?: string | null
          permit_lease_ms?: number
          permits_granted?: number
          provider?: string
          requests_per_day?: number | null
          requests_per_minute?: number
          requests_today?: number
          ring_bucket?: number | null
          ring_since?: string | null
          ring_slots?: number | null
          ring_width_ms?: number | null
          safety_margin_ms?: number
          updated_at?: string
          window_input_tokens?: number
          window_ms?: number
          window_requests?: number
        }
        Relationships: []
      }
      quota_permit_releases: {
        Row: {
          model: string
          permits_released: number
          provider: string
        }
        Insert: {
          model: string
          permits_released?: number
          provider: string
        }
        Update: {
          model?: string
          permits_released?: number
          provider?: string
        }
        Relationships: [
          {
            foreignKeyName: "quota_permit_releases_provider_model_fkey"
            columns: ["provider", "model"]
            isOneToOne: true
            referencedRelation: "quota_limits"
            referencedColumns: ["provider", "model"]
          },
        ]
      }
      quota_permits: {
        Row: {
          expires_at: string
          file_id: string | null
          granted_at: string
          id: string
          input_tokens: number
          model: string
          provider: string
        }
        Insert: {
          expires_at: string
          file_id?: string | null
          granted_at: string
          id?: string
          input_tokens: number
          model: string
          provider: string
        }
        Update: {
          expires_at?: string
          file_id?: string | null
          granted_at?: string
          id?: string
          input_tokens?: number
          model?: string
          provider?: string
        }
        Relationships: [
          {
            foreignKeyName: "quota_permits_provider_model_fkey"
            columns: ["provider", "model"]
            isOneToOne: false
            referencedRelation: "quota_limits"
            referencedColumns: ["provider", "model"]
          },
        ]
      }
      quota_rings: {
        Row: {
          input_tokens: number[]
          model: string
          provider: string
          requests: number[]
        }
        Insert: {
          input_tokens: number[]
          model: string
          provider: string
          requests: number[]
        }
        Update: {
          input_tokens?: number[]
          model?: string
          provider?: string
          requests?: number[]
        }
        Relationships: [
          {
            foreignKeyName: "quota_rings_provider_model_fkey"
            columns: ["provider", "model"]
            isOneToOne: true
            referencedRelation: "quota_limits"
            referencedColumns: ["provider", "model"]
          },
        ]
      }
      receipt_embeddings: {
        Row: {
          batch_session_id: string
          content: string
          created_at: string
          dimensions: number
          embedding: number[]
          file_id: string
          model: string
          task_type: string
        }
        Insert: {
          batch_session_id: string
          content: string
          created_at?: string
          dimensions: number
          embedding: number[]
          file_id: string
          model: string
          task_type: string
        }
        Update: {
          batch_session_id?: string
          content?: string
          created_at?: string
          dimensions?: number
          embedding?: number[]
          file_id?: string
          model?: string
          task_type?: string
        }
        Relationships: [
          {
            foreignKeyName: "receipt_embeddings_batch_session_id_fkey"
            columns: ["batch_session_id"]
            isOneToOne: false
            referencedRelation: "batch_upload_sessions"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "receipt_embeddings_file_id_fkey"
            columns: ["file_id"]
            isOneToOne: true
            referencedRelation: "batch_upload_files"
            referencedColumns: ["id"]
          },
        ]
      }
      receipt_extractions: {
        Row: {
          batch_session_id: string
          copied_to_receipt_at: string | null
          copy_error: string | null
          created_at: string
          currency: string | null
          date: string | null
          file_id: string
          line_items: NonNullable<Json>
          merchant: string | null
          receipt_id: string | null
          subtotal: number | null
          tax: number | null
          total: number | null
        }
        Insert: {
          batch_session_id: string
          copied_to_receipt_at?: string | null
          copy_error?: string | null
          created_at?: string
          currency?: string | null
          date?: string | null
          file_id: string
          line_items?: NonNullable<Json>
          merchant?: string | null
          receipt_id?: string | null
          subtotal?: number | null
          tax?: number | null
          total?: number | null
        }
        Update: {
          batch_session_id?: string
          copied_to_receipt_at?: string | null
          copy_error?: string | null
          created_at?: string
          currency?: string | null
          date?: string | null
          file_id?: string
          line_items?: NonNullable<Json>
          merchant?: string | null
          receipt_id?: string | null
          subtotal?: number | null
          tax?: number | null
          total?: number | null
        }
        Relationships: [
          {
            foreignKeyName: "receipt_extractions_batch_session_id_fkey"
            columns: ["batch_session_id"]
            isOneToOne: false
            referencedRelation: "batch_upload_sessions"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "receipt_extractions_file_id_fkey"
            columns: ["file_id"]
            isOneToOne: true
            referencedRelation: "batch_upload_files"
            referencedColumns: ["id"]
          },
        ]
      }
      receipts: {
        Row: {
          created_at: string
          currency: string | null
          date: string | null
          id: string
          image_url: string | null
          merchant: string | null
          processing_status: string
          team_id: string | null
          total: number | null
          updated_at: string
          user_id: string | null
        }
        Insert: {
          created_at?: string
          currency?: string | null
          date?: string | null
          id?: string
          image_url?: string | null
          merchant?: string | null
          processing_status?: string
          team_id?: string | null
          total?: number | null
          updated_at?: string
          user_id?: string | null
        }
        Update: {
          created_at?: string
          currency?: string | null
          date?: string | null
          id?: string
          image_url?: string | null
          merchant?: string | null
          processing_status?: string
          team_id?: string | null
          total?: number | null
          updated_at?: string
          user_id?: string | null
        }
        Relationships: [
          {
            foreignKeyName: "receipts_team_id_fkey"
            columns: ["team_id"]
            isOneToOne: false
            referencedRelation: "teams"
            referencedColumns: ["id"]
          },
        ]
      }
      team_members: {
        Row: {
          created_at: string
          role: string
          team_id: string
          user_id: string
        }
        Insert: {
          created_at?: string
          role?: string
          team_id: string
          user_id: string
        }
        Update: {
          created_at?: string
          role?: string
          team_id?: string
          user_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "team_members_team_id_fkey"
            columns: ["team_id"]
            isOneToOne: false
            referencedRelation: "teams"
            referencedColumns: ["id"]
          },
        ]
      }
      teams: {
        Row: {
          created_at: string
          id: string
          name: string
        }
        Insert: {
          created_at?: string
          id?: string
          name: string
        }
        Update: {
          created_at?: string
          id?: string
          name?: string
        }
        Relationships: []
      }
    }
    Views: {
      [_ in never]: never
    }
    Functions: {
      batchpilot_acquire_quota: {
        Args: {
          estimated_input_tokens: number
          file_id?: string
          lease_ms?: number
          model: string
          provider: string
          strategy?: string
        }
        Returns: {
          granted: boolean
          granted_at: string
          permit_id: string
          reason: string
          wait_ms: number
        }[]
      }
      batchpilot_extend_quota_permits: {
        Args: { lease_ms: number; permit_ids: string[] }
        Returns: number
      }
      batchpilot_finish_quota: {
        Args: { actual_input_tokens: number; permit_id: string }
        Returns: boolean
      }
      batchpilot_finish_quotas: {
        Args: { actual_input_tokens: number[]; permit_ids: string[] }
        Returns: number
      }
      batchpilot_quota_status: {
        Args: { model: string; provider: string }
        Returns: {
          adaptive_factor: number
          blocked_until: string
          in_flight: number
          input_tokens_in_window: number
          parked_until: string
          requests_in_window: number
        }[]
      }
      batchpilot_reconcile_quota: {
        Args: { actual_input_tokens: number; permit_id: string }
        Returns: boolean
      }
      batchpilot_release_quota: {
        Args: { permit_id: string }
        Returns: boolean
      }
      batchpilot_report_daily_quota_exhausted: {
        Args: { model: string; provider: string }
        Returns: string
      }
      batchpilot_report_rate_limit: {
        Args: {
          model: string
          provider: string
          quota_id?: string
          retry_delay_ms: number
        }
        Returns: string
      }
      batchpilot_session_batch_jobs: {
        Args: { session_id: string }
        Returns: {
          created_at: string
          due_by: string
          ended_at: string
          error_message: string
          files: number
          files_at_google: number
          job_id: string
          model: string
          name: string
          state: string
          submitted_at: string
        }[]
      }
      batchpilot_session_quota_status: {
        Args: { session_id: string }
        Returns: {
          blocked_until: string
          input_tokens_limit: number
          input_tokens_used: number
          model: string
          parked_until: string
          provider: string
          requests_limit: number
          requests_used: number
          window_ms: number
        }[]
      }
      batchpilot_skip_failed_upload: {
        Args: { file_id: string; reason: string }
        Returns: boolean
      }
      match_receipts: {
        Args: {
          filter_session_id?: string
          match_count?: number
          query_embedding: number[]
        }
        Returns: {
          batch_session_id: string
          content: string
          file_id: string
          receipt_id: string
          similarity: number
        }[]
      }
    }
    Enums: {
      [_ in never]: never
    }
    CompositeTypes: {
      [_ in never]: never
    }
  }
}

type DatabaseWithoutInternals = Omit<Database, "__InternalSupabase">

type DefaultSchema = DatabaseWithoutInternals[Extract<keyof Database, "public">]

export type Tables<
  DefaultSchemaTableNameOrOptions extends
    | keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends (DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
        DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])
    : never) = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
      DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])[TableName] extends {
      Row: infer R
    }
    ? R
    : never
  : DefaultSchemaTableNameOrOptions extends keyof (DefaultSchema["Tables"] &
        DefaultSchema["Views"])
    ? (DefaultSchema["Tables"] &
        DefaultSchema["Views"])[DefaultSchemaTableNameOrOptions] extends {
        Row: infer R
      }
      ? R
      : never
    : never

export type TablesInsert<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends (DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never) = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Insert: infer I
    }
    ? I
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Insert: infer I
      }
      ? I
      : never
    : never

export type TablesUpdate<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends (DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never) = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Update: infer U
    }
    ? U
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Update: infer U
      }
      ? U
      : never
    : never

export type Enums<
  DefaultSchemaEnumNameOrOptions extends
    | keyof DefaultSchema["Enums"]
    | { schema: keyof DatabaseWithoutInternals },
  EnumName extends (DefaultSchemaEnumNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"]
    : never) = never,
> = DefaultSchemaEnumNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"][EnumName]
  : DefaultSchemaEnumNameOrOptions extends keyof DefaultSchema["Enums"]
    ? DefaultSchema["Enums"][DefaultSchemaEnumNameOrOptions]
    : never

export type CompositeTypes<
  PublicCompositeTypeNameOrOptions extends
    | keyof DefaultSchema["CompositeTypes"]
    | { schema: keyof DatabaseWithoutInternals },
  CompositeTypeName extends (PublicCompositeTypeNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"]
    : never) = never,
> = PublicCompositeTypeNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"][CompositeTypeName]
  : PublicCompositeTypeNameOrOptions extends keyof DefaultSchema["CompositeTypes"]
    ? DefaultSchema["CompositeTypes"][PublicCompositeTypeNameOrOptions]
    : never

export const Constants = {
  public: {
    Enums: {},
  },
} as const

