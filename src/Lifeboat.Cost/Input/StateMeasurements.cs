using Lifeboat.Cost.Model;
using Microsoft.Data.Sqlite;

namespace Lifeboat.Cost.Input;

/// <summary>
/// Workload figures measured by Lifeboat itself, read (read-only) from its state store: writes a month from the
/// rate of changes in the journal since its oldest row, object count, average size and data size from what was
/// replicated. A missing or empty store measures nothing.
/// </summary>
public static class StateMeasurements
{
    public static Measurement? Read(string statePath, string resource, DateTimeOffset now, double hoursPerMonth)
    {
        if (!File.Exists(statePath)) return null;
        var cs = new SqliteConnectionStringBuilder { DataSource = statePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString();
        try
        {
            using var db = new SqliteConnection(cs);
            db.Open();
            long puts; long? first;
            using (var c = db.CreateCommand())
            {
                c.CommandText = "SELECT count(*), min(seen_at) FROM journal WHERE resource=$r AND op='put' AND status<>'same'";
                c.Parameters.AddWithValue("$r", resource);
                using var rd = c.ExecuteReader();
                rd.Read();
                puts = rd.GetInt64(0);
                first = rd.IsDBNull(1) ? null : rd.GetInt64(1);
            }
            if (puts == 0 || first is null) return null;
            long objects; double? avg; double? sum;
            using (var c = db.CreateCommand())
            {
                c.CommandText = "SELECT count(*), avg(source_size), sum(source_size) FROM replicated WHERE resource=$r";
                c.Parameters.AddWithValue("$r", resource);
                using var rd = c.ExecuteReader();
                rd.Read();
                objects = rd.GetInt64(0);
                avg = rd.IsDBNull(1) ? null : rd.GetDouble(1);
                sum = rd.IsDBNull(2) ? null : rd.GetDouble(2);
            }
            var since = DateTimeOffset.FromUnixTimeMilliseconds(first.Value);
            var window = now - since;
            // Under a minute of history is no rate.
            double? perMonth = window >= TimeSpan.FromMinutes(1) ? puts / window.TotalHours * hoursPerMonth : null;
            return new Measurement(puts, since, perMonth, objects > 0 ? avg : null, objects > 0 ? sum : null, objects > 0 ? objects : null);
        }
        catch (SqliteException e)
        {
            // A store written by another version, or not a Lifeboat store: say so rather than guess.
            throw new Core.Config.UserErrorException($"state store {statePath}: cannot read measurements: {e.Message}", e);
        }
    }
}
